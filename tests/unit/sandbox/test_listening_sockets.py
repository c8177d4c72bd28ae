"""The socket-table reader the loopback test relies on, on the kernel's own format."""

from __future__ import annotations

import ipaddress
import os
import socket

from tests.listening import descendants, listening, parse_table

HEADER = (
    "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  inode\n"
)


def _line(local: str, remote: str, state: str, inode: int) -> str:
    # sl, local, remote, st, tx:rx queue, tr:when, retrnsmt, uid, timeout, inode, ...
    rest = f"00000000:00000000 00:00000000 00000000 0 0 {inode} 1 0 100 0 0 10 0"
    return f"   0: {local} {remote} {state} {rest}\n"


def test_listening_tcp_sockets_are_read_with_their_addresses() -> None:
    text = HEADER + "".join(
        [
            _line("0100007F:1F90", "00000000:0000", "0A", 11),  # 127.0.0.1:8080, listening
            _line("00000000:0050", "00000000:0000", "0A", 12),  # 0.0.0.0:80, listening
            _line("0100007F:1F90", "0100007F:C350", "01", 13),  # an established connection
        ]
    )
    found = parse_table("tcp", text)
    assert [(str(s.address), s.port, s.inode, s.loopback) for s in found] == [
        ("127.0.0.1", 8080, 11, True),
        ("0.0.0.0", 80, 12, False),
    ]


def test_ipv6_addresses_are_read_word_by_word_and_mapped_loopback_counts() -> None:
    zeros = "0" * 32
    text = HEADER + "".join(
        [
            _line("00000000000000000000000001000000:0050", f"{zeros}:0000", "0A", 21),  # ::1
            _line("0000000000000000FFFF00000100007F:0050", f"{zeros}:0000", "0A", 22),
            _line(f"{zeros}:0050", f"{zeros}:0000", "0A", 23),  # [::]:80, every address
        ]
    )
    found = parse_table("tcp6", text)
    assert [(s.address, s.loopback) for s in found] == [
        (ipaddress.IPv6Address("::1"), True),
        (ipaddress.IPv6Address("::ffff:127.0.0.1"), True),
        (ipaddress.IPv6Address("::"), False),
    ]


def test_a_bound_udp_socket_counts_as_listening() -> None:
    text = HEADER + _line("00000000:2386", "00000000:0000", "07", 31)  # 0.0.0.0:9094
    (found,) = parse_table("udp", text)
    assert (found.port, found.loopback) == (9094, False)


def test_this_process_socket_is_found_with_its_holder() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        mine = [s for pid, s in listening({os.getpid()}) if s.port == port]
    assert [(str(s.address), s.protocol, s.loopback) for s in mine] == [("127.0.0.1", "tcp", True)]
    assert os.getpid() in descendants(os.getppid())
