"""Request parsing: token counts decide simulated latency, so they must be right."""

from __future__ import annotations

import random

import pytest

from forescale.sim.openai_protocol import ProtocolError, parse_request, sample_output_tokens


def test_token_id_prompt_counts_exactly_and_text_is_estimated() -> None:
    assert parse_request({"prompt": [5] * 123}, chat=False).prompt_tokens == 123
    assert parse_request({"prompt": "x" * 41}, chat=False).prompt_tokens == 11


def test_chat_adds_template_overhead_per_message() -> None:
    body = {"messages": [{"role": "system", "content": "abcd"}, {"role": "user", "content": ""}]}
    assert parse_request(body, chat=True).prompt_tokens == 4 + 1 + 4


def test_stream_options_and_limits() -> None:
    spec = parse_request(
        {
            "prompt": "hi",
            "max_tokens": 9,
            "stream": True,
            "stream_options": {"include_usage": True},
        },
        chat=False,
    )
    assert (spec.max_tokens, spec.stream, spec.include_usage) == (9, True, True)
    chat = parse_request({"messages": [{"content": "a"}], "max_completion_tokens": 3}, chat=True)
    assert chat.max_tokens == 3


@pytest.mark.parametrize(
    ("body", "chat"),
    [
        ({"max_tokens": 5}, False),
        ({"prompt": "x", "max_tokens": 0}, False),
        ({"prompt": {"a": 1}}, False),
        ({"messages": []}, True),
        ([], False),
    ],
)
def test_invalid_bodies_are_protocol_errors(body: object, chat: bool) -> None:
    with pytest.raises(ProtocolError):
        parse_request(body, chat=chat)


def test_sampled_output_lengths_are_seeded() -> None:
    first = [sample_output_tokens(random.Random(4)) for _ in range(3)]
    assert first == [sample_output_tokens(random.Random(4)) for _ in range(3)]
    lengths = [sample_output_tokens(random.Random(i)) for i in range(500)]
    assert 120 < sum(lengths) / len(lengths) < 300
