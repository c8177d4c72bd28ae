"""Errors of the metrics layer, typed so the operator can tell them apart without parsing text.

The operator runs every control interval; a Prometheus outage must surface as one of these
types (caught, reported in a condition and retried next interval), never as a bare
``requests`` or ``KeyError`` that would crash a kopf handler. Two Prometheus failures are
distinguished because the remedy differs: *unavailable* (down, unreachable, too slow, 5xx)
is transient and says nothing about our queries, while *query failed* (4xx, malformed
answer) means a query or the server's data model is wrong and will not heal by waiting.
"""

from __future__ import annotations


class MetricsError(Exception):
    """Base of every error raised by ``forescale.metrics``."""


class ExpositionError(MetricsError):
    """A Prometheus text exposition could not be parsed; names the offending line."""

    def __init__(self, line_number: int, line: str, reason: str) -> None:
        self.line_number = line_number
        self.line = line
        self.reason = reason
        super().__init__(f"line {line_number}: {reason}: {line!r}")


class PrometheusError(MetricsError):
    """Prometheus could not answer a query; the reader raises only subclasses of this."""


class PrometheusUnavailableError(PrometheusError):
    """Prometheus is down, unreachable, timed out or answered 5xx: transient, retry later."""


class QueryFailedError(PrometheusError):
    """Prometheus rejected a query (4xx) or answered something that is not a query result."""

    def __init__(self, query: str, reason: str) -> None:
        self.query = query
        self.reason = reason
        super().__init__(f"{reason} (query: {query})")
