"""Parsing the text exposition: the real scrape, the format's corners, and errors by line."""

from __future__ import annotations

import math

import pytest

from forescale.metrics.errors import ExpositionError
from forescale.metrics.exposition import parse_exposition
from tests.unit.metrics.fixture_support import MODEL, fixture_text


def test_the_real_scrape_parses_with_labels_and_types() -> None:
    exposition = parse_exposition(fixture_text())
    running = exposition.named("vllm:num_requests_running")
    assert len(running) == 1
    assert running[0].labels == (("engine", "0"), ("model_name", MODEL))
    assert running[0].value == 0.0
    assert exposition.types["vllm:time_to_first_token_seconds"] == "histogram"
    assert exposition.types["vllm:request_success_total"] == "counter"
    # 23 TTFT buckets: 22 bounds plus +Inf.
    assert len(exposition.named("vllm:time_to_first_token_seconds_bucket")) == 23


def test_escapes_timestamps_and_special_values() -> None:
    text = (
        'm{a="x\\"y",b="back\\\\slash",c="new\\nline"} 1.5e3 1700000000000\n'
        "n +Inf\n"
        "o NaN\n"
        "p{} -2\n"
        'q{a="1",} 3 # {trace_id="t"} 1.0\n'
        "# EOF\n"
    )
    samples = parse_exposition(text).samples
    assert samples[0].labels == (("a", 'x"y'), ("b", "back\\slash"), ("c", "new\nline"))
    assert samples[0].value == 1500.0
    assert samples[1].value == math.inf
    assert math.isnan(samples[2].value)
    assert samples[3].labels == ()
    assert samples[3].value == -2.0
    assert samples[4].label("a") == "1"


def test_free_comments_and_blank_lines_are_ignored() -> None:
    samples = parse_exposition("# just a comment\n\n  \nx 1\n").samples
    assert [(s.name, s.line_number) for s in samples] == [("x", 4)]


@pytest.mark.parametrize(
    ("text", "line", "reason"),
    [
        ('ok 1\nbad{a="1" 2\n', 2, "expected ',' or '}'"),
        ("ok 1\n\nbad one\n", 3, "expected a number"),
        ('x{a="unterminated} 1\n', 1, "unterminated label value"),
        ('x{a="\\q"} 1\n', 1, "invalid escape"),
        ('x{a="1",a="2"} 1\n', 1, "duplicate label"),
        ("x 1 2 3\n", 1, "unexpected text"),
        ("1x 1\n", 1, "expected a metric name"),
        ("x 1_000\n", 1, "malformed value"),
        ("x 1 17e3\n", 1, "malformed timestamp"),
        ("# TYPE x flavour\n", 1, "unknown metric type"),
    ],
)
def test_malformed_lines_are_named_by_number_and_text(text: str, line: int, reason: str) -> None:
    with pytest.raises(ExpositionError) as caught:
        parse_exposition(text)
    assert caught.value.line_number == line
    assert reason in caught.value.reason
    assert caught.value.line == text.split("\n")[line - 1]
    assert f"line {line}:" in str(caught.value)
