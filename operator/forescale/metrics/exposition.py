"""Parsing the Prometheus text exposition format (what vLLM serves on ``/metrics``).

A small hand-written parser rather than ``prometheus_client.parser``: that parser reports a
malformed line as a bare ``ValueError`` without its position, and the one thing a user of
``forescale inspect-metrics`` needs when a scrape is broken is *which line*. The format is
small (comments, ``name{labels} value [timestamp]``), so owning it costs little.

Accepted: text format 0.0.4 and the OpenMetrics subset vLLM can emit (``# EOF``, exemplars
after `` # ``, which are dropped). Values keep NaN and infinities: judging them is the
consumer's job. Pure: text in, data out.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field

from forescale.metrics.errors import ExpositionError

_METRIC_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
_LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
_FLOAT = re.compile(r"[+-]?(?:(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?|[Ii]nf|NaN)")
_TIMESTAMP = re.compile(r"-?\d+")
_ESCAPES = {"\\": "\\", '"': '"', "n": "\n"}
_TYPES = frozenset({"counter", "gauge", "histogram", "summary", "untyped", "unknown"})


@dataclass(frozen=True)
class Sample:
    """One sample line: name, labels (sorted pairs), value, and where it came from."""

    name: str
    labels: tuple[tuple[str, str], ...]
    value: float
    line_number: int

    def label(self, key: str) -> str | None:
        """The value of label ``key``, or None when the sample does not carry it."""
        for name, value in self.labels:
            if name == key:
                return value
        return None


@dataclass(frozen=True)
class Exposition:
    """All samples of one scrape, in order, plus the declared ``# TYPE`` of each family."""

    samples: tuple[Sample, ...]
    types: dict[str, str] = field(default_factory=dict)

    def named(self, name: str) -> list[Sample]:
        """The samples whose name is exactly ``name``, in scrape order."""
        return [s for s in self.samples if s.name == name]

    def has(self, name: str) -> bool:
        """True when at least one sample is named ``name``."""
        return any(s.name == name for s in self.samples)


def parse_exposition(text: str) -> Exposition:
    """Parse a whole exposition; raise ``ExpositionError`` naming the first bad line."""
    samples: list[Sample] = []
    types: dict[str, str] = {}
    for number, line in _numbered_lines(text):
        stripped = line.strip()
        if not stripped:
            continue
        if stripped.startswith("#"):
            if stripped == "# EOF":
                break
            _parse_comment(stripped, number, types)
            continue
        samples.append(_parse_sample(line, number))
    return Exposition(tuple(samples), types)


def _numbered_lines(text: str) -> Iterator[tuple[int, str]]:
    for index, line in enumerate(text.split("\n")):
        yield index + 1, line.removesuffix("\r")


def _parse_comment(line: str, number: int, types: dict[str, str]) -> None:
    parts = line.split(None, 3)
    if len(parts) < 2 or parts[1] not in ("HELP", "TYPE"):
        return  # a free-form comment
    if len(parts) < 3 or not _METRIC_NAME.fullmatch(parts[2]):
        raise ExpositionError(number, line, f"# {parts[1]} needs a valid metric name")
    if parts[1] == "TYPE":
        kind = parts[3].strip() if len(parts) == 4 else ""
        if kind not in _TYPES:
            raise ExpositionError(number, line, f"unknown metric type {kind!r}")
        types[parts[2]] = kind


class _Cursor:
    """A position in one line, with the helpers the sample grammar needs."""

    def __init__(self, line: str, number: int) -> None:
        self.line = line
        self.number = number
        self.pos = 0

    def fail(self, reason: str) -> ExpositionError:
        return ExpositionError(self.number, self.line, f"{reason} at column {self.pos + 1}")

    def skip_blanks(self) -> None:
        while self.pos < len(self.line) and self.line[self.pos] in " \t":
            self.pos += 1

    def peek(self) -> str:
        return self.line[self.pos] if self.pos < len(self.line) else ""

    def expect(self, char: str) -> None:
        if self.peek() != char:
            raise self.fail(f"expected {char!r}")
        self.pos += 1

    def token(self, pattern: re.Pattern[str], what: str) -> str:
        match = pattern.match(self.line, self.pos)
        if match is None or match.end() == self.pos:
            raise self.fail(f"expected {what}")
        self.pos = match.end()
        return match.group()

    def quoted(self) -> str:
        self.expect('"')
        chars: list[str] = []
        while True:
            char = self.peek()
            if char == "":
                raise self.fail("unterminated label value")
            self.pos += 1
            if char == '"':
                return "".join(chars)
            if char == "\\":
                escaped = _ESCAPES.get(self.peek())
                if escaped is None:
                    raise self.fail("invalid escape in label value")
                self.pos += 1
                chars.append(escaped)
            else:
                chars.append(char)


def _parse_sample(line: str, number: int) -> Sample:
    cur = _Cursor(line, number)
    cur.skip_blanks()
    name = cur.token(_METRIC_NAME, "a metric name")
    labels = _parse_labels(cur) if cur.peek() == "{" else {}
    if cur.peek() not in (" ", "\t"):
        raise cur.fail("expected a blank before the value")
    cur.skip_blanks()
    value = float(cur.token(_FLOAT, "a number"))
    if cur.peek() not in ("", " ", "\t"):
        raise cur.fail("malformed value")
    cur.skip_blanks()
    if cur.peek() not in ("", "#"):
        cur.token(_TIMESTAMP, "a timestamp in milliseconds")
        if cur.peek() not in ("", " ", "\t"):
            raise cur.fail("malformed timestamp")
        cur.skip_blanks()
    if cur.peek() not in ("", "#"):  # '#' starts an OpenMetrics exemplar, dropped
        raise cur.fail("unexpected text after the sample")
    return Sample(name, tuple(sorted(labels.items())), value, number)


def _parse_labels(cur: _Cursor) -> dict[str, str]:
    cur.expect("{")
    labels: dict[str, str] = {}
    while True:
        cur.skip_blanks()
        if cur.peek() == "}":
            cur.pos += 1
            return labels
        key = cur.token(_LABEL_NAME, "a label name")
        if key in labels:
            raise cur.fail(f"duplicate label {key!r}")
        cur.skip_blanks()
        cur.expect("=")
        cur.skip_blanks()
        labels[key] = cur.quoted()
        cur.skip_blanks()
        if cur.peek() == ",":
            cur.pos += 1
        elif cur.peek() != "}":
            raise cur.fail("expected ',' or '}' in labels")
