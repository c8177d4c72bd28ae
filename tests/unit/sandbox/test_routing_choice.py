"""The router's choice: the least-loaded Ready replica, fairly among equals."""

from __future__ import annotations

from forescale.sandbox.routing import Backend, ModelStats, least_loaded


def _backend(pod: str) -> Backend:
    return Backend("ns", "llama", pod, "http://127.0.0.1:1", ("llama",))


A, B, C = _backend("a"), _backend("b"), _backend("c")


def test_no_backend_no_choice() -> None:
    assert least_loaded([], {}) is None


def test_fewest_in_flight_wins() -> None:
    assert least_loaded([A, B, C], {"ns/a": 3, "ns/b": 1, "ns/c": 2}) == B


def test_ties_go_to_the_least_served_then_by_name() -> None:
    assert least_loaded([A, B, C], {}, {"ns/a": 5, "ns/b": 2, "ns/c": 2}) == B
    assert least_loaded([C, B, A], {}) == A


def test_an_idle_fleet_is_used_round_robin() -> None:
    in_flight: dict[str, int] = {}
    served: dict[str, int] = {}
    picks = []
    for _ in range(6):
        chosen = least_loaded([A, B, C], in_flight, served)
        assert chosen is not None
        served[chosen.key] = served.get(chosen.key, 0) + 1
        picks.append(chosen.pod)
    assert picks == ["a", "b", "c", "a", "b", "c"]


def test_a_new_replica_takes_the_next_requests() -> None:
    in_flight = {"ns/a": 4, "ns/b": 4}
    assert least_loaded([A, B, C], in_flight, {"ns/a": 100, "ns/b": 100}) == C


def test_arrival_rate_over_a_window() -> None:
    stats = ModelStats()
    stats.arrivals.extend([0.0, 1.0, 9.0, 9.5, 10.0])
    assert stats.rate(now=10.0, window=2.0) == 1.5
    assert stats.rate(now=10.0, window=0.0) == 0.0
