"""The OpenAI-compatible request and response shapes the sim-server speaks, as vLLM does.

Pure functions, so the parsing rules (how many prompt tokens, how many output tokens) are
unit-tested without a server. Token counts decide the simulated latency, so they are
explicit where the protocol allows it: a completions ``prompt`` given as a list of token ids
(which vLLM accepts) counts exactly; text is estimated at ~4 characters per token; chat
messages add vLLM's chat-template overhead. ``max_tokens`` is honoured exactly (as with
``ignore_eos``) and finishes with ``length``; without it the output length is drawn from a
seeded chat-like distribution and finishes with ``stop``.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import Any

CHARS_PER_TOKEN = 4.0
CHAT_TOKENS_PER_MESSAGE = 4
"""Role markers and separators a Llama-3 chat template adds around each message."""
_WORDS = ("the", " model", " is", " simulated", " and", " tokens", " arrive", " on", " time", ".")


class ProtocolError(ValueError):
    """A request the server rejects with 400, like vLLM's validation errors."""


@dataclass(frozen=True)
class GenerationRequest:
    chat: bool
    model: str | None
    prompt_tokens: int
    max_tokens: int | None
    stream: bool
    include_usage: bool


def _text_tokens(text: str) -> int:
    return max(1, math.ceil(len(text) / CHARS_PER_TOKEN))


def _prompt_tokens(prompt: Any) -> int:
    if isinstance(prompt, str):
        return _text_tokens(prompt)
    if isinstance(prompt, list) and prompt and all(isinstance(t, int) for t in prompt):
        return len(prompt)
    if isinstance(prompt, list) and len(prompt) == 1:
        return _prompt_tokens(prompt[0])
    raise ProtocolError("prompt must be a string, a list of token ids, or a one-element list")


def _chat_tokens(messages: Any) -> int:
    if not isinstance(messages, list) or not messages:
        raise ProtocolError("messages must be a non-empty list")
    total = 0
    for message in messages:
        if not isinstance(message, dict):
            raise ProtocolError("each message must be an object")
        content = message.get("content", "")
        if isinstance(content, list):  # content parts: count the text parts
            content = "".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
        total += CHAT_TOKENS_PER_MESSAGE + math.ceil(len(str(content)) / CHARS_PER_TOKEN)
    return total


def parse_request(body: Any, *, chat: bool) -> GenerationRequest:
    """Validate a ``/v1/completions`` or ``/v1/chat/completions`` body."""
    if not isinstance(body, dict):
        raise ProtocolError("the request body must be a JSON object")
    if chat:
        prompt_tokens = _chat_tokens(body.get("messages"))
    else:
        if "prompt" not in body:
            raise ProtocolError("prompt is required")
        prompt_tokens = _prompt_tokens(body["prompt"])
    limit = body.get("max_completion_tokens") if chat else None
    if limit is None:
        limit = body.get("max_tokens")
    if limit is not None and (not isinstance(limit, int) or isinstance(limit, bool) or limit < 1):
        raise ProtocolError("max_tokens must be a positive integer")
    model = body.get("model")
    options = body.get("stream_options") or {}
    return GenerationRequest(
        chat=chat,
        model=model if isinstance(model, str) else None,
        prompt_tokens=prompt_tokens,
        max_tokens=limit,
        stream=bool(body.get("stream", False)),
        include_usage=isinstance(options, dict) and bool(options.get("include_usage", False)),
    )


def sample_output_tokens(rng: random.Random) -> int:
    """An output length for a request without ``max_tokens`` (chat-like, mean ≈ 200)."""
    return min(2048, max(1, round(rng.lognormvariate(math.log(140.0), 0.85))))


def token_text(index: int) -> str:
    """The text of output token ``index`` (content is irrelevant, only timing matters)."""
    return _WORDS[index % len(_WORDS)]


def usage(prompt_tokens: int, completion_tokens: int) -> dict[str, int]:
    return {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
    }


def _choice(chat: bool, text: str, finish_reason: str | None, *, delta: bool) -> dict[str, Any]:
    choice: dict[str, Any] = {"index": 0}
    if chat and delta:
        choice["delta"] = {"content": text} if text or finish_reason is None else {}
    elif chat:
        choice["message"] = {"role": "assistant", "content": text}
    else:
        choice["text"] = text
    choice["logprobs"] = None
    choice["finish_reason"] = finish_reason
    return choice


def envelope(
    request_id: str, model: str, created: int, *, chat: bool, chunk: bool
) -> dict[str, Any]:
    """The fields shared by every response object or stream chunk."""
    kind = "text_completion"
    if chat:
        kind = "chat.completion.chunk" if chunk else "chat.completion"
    return {"id": request_id, "object": kind, "created": created, "model": model}


def stream_chunk(
    base: dict[str, Any], *, chat: bool, text: str, finish_reason: str | None = None
) -> dict[str, Any]:
    return {**base, "choices": [_choice(chat, text, finish_reason, delta=True)]}


def role_chunk(base: dict[str, Any]) -> dict[str, Any]:
    """The first chat stream chunk, which announces the assistant role (as vLLM sends it)."""
    choice = {"index": 0, "delta": {"role": "assistant", "content": ""}, "logprobs": None}
    return {**base, "choices": [{**choice, "finish_reason": None}]}


def usage_chunk(base: dict[str, Any], prompt_tokens: int, completion_tokens: int) -> dict[str, Any]:
    return {**base, "choices": [], "usage": usage(prompt_tokens, completion_tokens)}


def full_response(
    base: dict[str, Any],
    *,
    chat: bool,
    text: str,
    finish_reason: str,
    prompt_tokens: int,
    completion_tokens: int,
) -> dict[str, Any]:
    return {
        **base,
        "choices": [_choice(chat, text, finish_reason, delta=False)],
        "usage": usage(prompt_tokens, completion_tokens),
    }


def error_body(message: str, kind: str, code: int) -> dict[str, Any]:
    """vLLM's error object."""
    return {"object": "error", "message": message, "type": kind, "param": None, "code": code}
