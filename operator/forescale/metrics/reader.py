"""The Prometheus reader: the only code in forescale that talks to Prometheus.

Per read, a fixed set of instant queries covers every LLMDeployment (see ``promql``: 12
queries whatever the number of deployments or pods, none of them naming a pod); all
queries are evaluated at the same instant (the ``time`` parameter), so the signals of one
Observation describe one moment even when the queries run one after another.

Failure is typed: down, refused, timed out or 5xx -> ``PrometheusUnavailableError``; 4xx or
a malformed answer -> ``QueryFailedError``. Nothing else escapes, so a kopf handler can catch
``PrometheusError`` and report "no data" instead of crashing. The client's own retries are
off: the operator reads again next interval, and a retry with back-off inside one read would
only turn an outage into a slow, stale answer. One read has one time budget
(``timeout_seconds``) shared by its queries.

prometheus-api-client is synchronous (requests); ``read_async`` runs a read in the
reader's own worker thread with the same budget, so the kopf event loop never blocks on
Prometheus and a read never queues behind the operator's Kubernetes calls (which use the
loop's default executor). Within a read the queries run a few at a time: a read's wall
time is then a few round trips, not twelve.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable, Collection
from concurrent.futures import ThreadPoolExecutor

import requests
import urllib3
from prometheus_api_client import PrometheusConnect
from prometheus_api_client.exceptions import PrometheusApiClientException
from urllib3.util.retry import Retry

from forescale.metrics import promql
from forescale.metrics.assembling import Row, assemble, parse_vector
from forescale.metrics.errors import PrometheusUnavailableError, QueryFailedError
from forescale.metrics.observation import Observation

_STATUS = re.compile(r"HTTP Status Code (\d+)")
_ASYNC_GRACE_SECONDS = 1.0
PARALLEL_QUERIES = 4


class PrometheusReader:
    """Reads an ``Observation`` for every LLMDeployment from one Prometheus."""

    def __init__(
        self,
        url: str,
        *,
        window_seconds: float = 60.0,
        staleness_seconds: float = 45.0,
        timeout_seconds: float = 5.0,
        namespaces: Collection[str] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.url = url
        self.window_seconds = window_seconds
        self.staleness_seconds = staleness_seconds
        self.timeout_seconds = timeout_seconds
        self.namespaces = None if namespaces is None else frozenset(namespaces)
        """A namespace-sharded operator reads only its namespaces' series."""
        self._clock = clock
        # No retries; read=False lets a read timeout surface as requests.ReadTimeout (an
        # exhausted Retry would wrap it in a ConnectionError, hiding "slow" behind "down").
        self._client = PrometheusConnect(url=url, retry=Retry(total=0, read=False))
        self._queries = ThreadPoolExecutor(PARALLEL_QUERIES, thread_name_prefix="prom-query")
        self._reads = ThreadPoolExecutor(1, thread_name_prefix="prom-read")

    def close(self) -> None:
        """Release the HTTP connection pool and the worker threads."""
        self._reads.shutdown(wait=False, cancel_futures=True)
        self._queries.shutdown(wait=False, cancel_futures=True)
        self._client.close()

    def __enter__(self) -> PrometheusReader:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def read(self, deployments: Collection[str] | None = None) -> dict[str, Observation]:
        """Observations keyed by ``namespace/name``.

        With ``deployments`` (keys; a mapping's keys do) exactly those are reported: the
        operator passes the LLMDeployments it serves, so one with no series yet still gets
        an Observation saying so. Without it, every deployment Prometheus has series for is
        reported. Pods that are gone stop counting through Prometheus' staleness handling
        (see ``promql``); no pod list is sent, so the queries do not grow with the fleet.
        """
        at = self._clock()
        if deployments is not None and not deployments:
            return {}
        queries = promql.observation_queries(self.window_seconds, self.namespaces)
        deadline = time.monotonic() + self.timeout_seconds
        futures = {
            name: self._queries.submit(self._query, query, at, deadline)
            for name, query in queries.items()
        }
        answers = {name: future.result() for name, future in futures.items()}
        census = answers.pop(promql.CENSUS)
        return assemble(at, census, answers, deployments, self.staleness_seconds)

    async def read_async(
        self, deployments: Collection[str] | None = None
    ) -> dict[str, Observation]:
        """``read`` in a worker thread, bounded by the same time budget."""
        try:
            loop = asyncio.get_running_loop()
            return await asyncio.wait_for(
                loop.run_in_executor(self._reads, self.read, deployments),
                self.timeout_seconds + _ASYNC_GRACE_SECONDS,
            )
        except TimeoutError as error:
            raise PrometheusUnavailableError(
                f"{self.url}: no answer within {self.timeout_seconds:g}s"
            ) from error

    def _query(self, query: str, at: float, deadline: float) -> list[Row]:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise PrometheusUnavailableError(
                f"{self.url}: read exceeded its {self.timeout_seconds:g}s budget"
            )
        params = {"time": f"{at:.3f}", "timeout": f"{remaining:.3f}"}
        try:
            result = self._client.custom_query(query, params=params, timeout=remaining)
        except requests.JSONDecodeError as error:
            raise QueryFailedError(query, f"not a Prometheus query answer: {error}") from error
        except requests.Timeout as error:
            raise PrometheusUnavailableError(
                f"{self.url}: no answer within {self.timeout_seconds:g}s"
            ) from error
        except requests.ConnectionError as error:
            raise PrometheusUnavailableError(f"{self.url}: cannot connect") from error
        except (requests.RequestException, urllib3.exceptions.HTTPError) as error:
            raise PrometheusUnavailableError(f"{self.url}: {error}") from error
        except PrometheusApiClientException as error:
            match = _STATUS.search(str(error))
            if match is None or int(match.group(1)) >= 500:
                raise PrometheusUnavailableError(f"{self.url}: {error}") from error
            raise QueryFailedError(query, str(error)) from error
        except (ValueError, KeyError, TypeError) as error:
            raise QueryFailedError(query, f"not a Prometheus query answer: {error}") from error
        return parse_vector(query, result)
