"""Listener ports are free, never a connection's source port, and handed out once."""

from __future__ import annotations

import socket

import pytest

from forescale.sandbox import ports


def test_listeners_take_ports_below_the_ephemeral_range() -> None:
    assert ports.listening_range((32768, 60999)) == (10000, 32767)


def test_an_ephemeral_range_starting_low_leaves_the_ports_above_it() -> None:
    assert ports.listening_range((1024, 40000)) == (40001, 65535)


def test_an_ephemeral_range_covering_everything_is_an_error() -> None:
    with pytest.raises(RuntimeError, match="leaves no ports"):
        ports.listening_range((1024, 65535))


def test_free_ports_are_outside_this_machines_ephemeral_range_bindable_and_distinct() -> None:
    low, high = ports.listening_range()
    ephemeral = ports._ephemeral()
    handed = [ports.free_port() for _ in range(50)]
    assert len(set(handed)) == len(handed)
    for port in handed:
        assert low <= port <= high
        assert not ephemeral[0] <= port <= ephemeral[1]
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener:
        listener.bind(("127.0.0.1", handed[-1]))


def test_a_port_taken_by_a_listener_is_not_handed_out(monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind(("127.0.0.1", 0))
        busy = taken.getsockname()[1]
        taken.listen()
        choices = iter([busy, busy, *range(20000, 20200)])
        monkeypatch.setattr(ports, "listening_range", lambda: (1, 65535))
        monkeypatch.setattr(ports._random, "randint", lambda a, b: next(choices))
        assert ports.free_port() != busy
