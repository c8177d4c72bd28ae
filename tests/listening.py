"""The sockets a process tree listens on, read from the kernel's tables in /proc.

"Every process binds 127.0.0.1" is a promise about flags spread over a dozen command
lines (etcd's listen URLs, kube-apiserver's bind address, kwok's server address,
Alertmanager's gossip, ...); a flag missed or a default changed upstream would break it
without any test of ours noticing. The kernel knows what actually listens: each socket of
``/proc/net/{tcp,tcp6,udp,udp6}`` with its local address, and each process's
``/proc/<pid>/fd`` links to the sockets it holds (``socket:[inode]``).
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

TCP_LISTEN = "0A"
"""``st`` of a listening TCP socket (include/net/tcp_states.h: TCP_LISTEN = 10)."""
UDP_UNCONNECTED = "07"
"""``st`` of a UDP socket bound and not connected: one that takes datagrams from anyone."""
TABLES = {"tcp": TCP_LISTEN, "tcp6": TCP_LISTEN, "udp": UDP_UNCONNECTED, "udp6": UDP_UNCONNECTED}


@dataclass(frozen=True)
class Socket:
    """One bound socket: protocol, local address and port, and the kernel's inode."""

    protocol: str
    address: ipaddress.IPv4Address | ipaddress.IPv6Address
    port: int
    inode: int

    @property
    def loopback(self) -> bool:
        """127.0.0.0/8, ::1 or an IPv4-mapped loopback (``::ffff:127.0.0.1``)."""
        address = self.address
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            return address.ipv4_mapped.is_loopback
        return address.is_loopback


def _address(hex_address: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    """/proc/net's hex address: 32-bit words in the host's (little-endian) byte order."""
    raw = bytes.fromhex(hex_address)
    words = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))
    if len(words) == 4:
        return ipaddress.IPv4Address(words)
    return ipaddress.IPv6Address(words)


def parse_table(protocol: str, text: str) -> list[Socket]:
    """The bound, listening sockets of one /proc/net table (``protocol``: tcp, tcp6, udp,
    udp6); connected and closing sockets are left out."""
    wanted = TABLES[protocol]
    found = []
    for line in text.splitlines()[1:]:
        fields = line.split()
        if len(fields) < 10 or fields[3] != wanted:
            continue
        address, port = fields[1].split(":")
        found.append(Socket(protocol, _address(address), int(port, 16), int(fields[9])))
    return found


def descendants(root: int) -> set[int]:
    """``root`` and every process below it (processes that end meanwhile are skipped)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(parent, []).append(int(entry.name))
    found, todo = set(), [root]
    while todo:
        pid = todo.pop()
        if pid not in found:
            found.add(pid)
            todo += children.get(pid, [])
    return found


def socket_inodes(pid: int) -> set[int]:
    """The inodes of the sockets ``pid`` holds open (none if it has ended)."""
    inodes = set()
    try:
        fds = list(Path(f"/proc/{pid}/fd").iterdir())
    except OSError:
        return inodes
    for fd in fds:
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(int(target[len("socket:[") : -1]))
    return inodes


def command(pid: int) -> str:
    """The process's command line, for messages ("" once it has ended)."""
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
    except OSError:
        return ""


def listening(pids: Iterable[int]) -> list[tuple[int, Socket]]:
    """Each listening socket held by one of ``pids``, with its holder."""
    sockets = {
        s.inode: s
        for protocol in TABLES
        for s in parse_table(protocol, Path(f"/proc/net/{protocol}").read_text())
    }
    return [
        (pid, sockets[inode])
        for pid in sorted(pids)
        for inode in sorted(socket_inodes(pid))
        if inode in sockets
    ]
