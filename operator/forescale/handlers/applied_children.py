"""Which children a pass may leave alone: applied before, unchanged since, by anyone.

A pass applies four children. When nothing changed, those four server-side applies are
no-ops the API server still has to decode, merge and answer; at 1,000 LLMDeployments they
were half of every pass's calls and most of the time to converge. A child is skipped only
when both hold:

* what we would apply now renders to the same manifest as what we applied last (a hash of
  the rendered child, kept in memory: a restarted operator applies everything once);
* the child as the watch last reported it has the same *write history* as the answer to
  that apply: the same ``managedFields`` entries (manager, operation, subresource, owned
  fields; not their times) outside the status subresource, hence the same
  ownerReferences. Any write by someone else to a field outside status (a hand edit, an
  injected sidecar, a field manager taking a field over) adds or changes an entry; a
  deletion removes the watched copy. Either way the child is applied again, and the
  ownership check and pod-template restore run as before.

The replica count is written by its own field manager and read from the Deployment each
pass, so its entry is left out: a scale does not force a re-apply of the Deployment.

The watched copies come from the kopf handlers of the kinds they watch
(:mod:`forescale.handlers.triggers`); a kind no watch reports (the PodMonitor where
prometheus-operator's API is not served) has no watched copy and is always applied.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from forescale.resources.deployment import REPLICAS_FIELD_MANAGER

ChildKey = tuple[str, str, str]
"""(kind, namespace, name)"""


def _digest(value: Any) -> bytes:
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.blake2b(text.encode(), digest_size=16).digest()


def manifest_digest(child: dict[str, Any]) -> bytes:
    """The rendered child, hashed: equal digests mean the same apply."""
    return _digest(child)


def write_history(obj: dict[str, Any]) -> bytes:
    """Who owns which fields of ``obj`` outside status, hashed (times left out)."""
    meta = obj.get("metadata") or {}
    entries = sorted(
        (
            str(entry.get("manager", "")),
            str(entry.get("operation", "")),
            str(entry.get("subresource", "")),
            json.dumps(entry.get("fieldsV1") or {}, sort_keys=True),
        )
        for entry in meta.get("managedFields") or []
        if entry.get("subresource") != "status" and entry.get("manager") != REPLICAS_FIELD_MANAGER
    )
    return _digest([meta.get("uid"), meta.get("ownerReferences"), entries])


Applied = tuple[bytes, bytes]
"""(manifest digest, write history of the API server's answer) of one apply."""


def record(child: dict[str, Any], answer: dict[str, Any]) -> Applied:
    """What to remember of applying ``child`` (the API server answered ``answer``)."""
    return manifest_digest(child), write_history(answer)


@dataclass
class WatchedChildren:
    """Each child's write history as the watches last reported it."""

    _seen: dict[ChildKey, bytes] = field(default_factory=dict)

    def seen(
        self,
        kind: str,
        namespace: str,
        name: str,
        body: dict[str, Any] | None,
        history: bytes | None = None,
    ) -> None:
        """A watch event for a child (None: it was deleted); ``history``: its
        :func:`write_history`, if the caller has it already."""
        key = (kind, namespace, name)
        if body is None:
            self._seen.pop(key, None)
        else:
            self._seen[key] = history if history is not None else write_history(body)

    def unchanged(self, child: dict[str, Any], last: Applied | None) -> bool:
        """True when applying ``child`` again would change nothing anyone wrote since
        ``last`` (our previous apply of it; None: never applied by this process)."""
        meta = child["metadata"]
        seen = self._seen.get((str(child["kind"]), str(meta["namespace"]), str(meta["name"])))
        return (
            last is not None
            and seen is not None
            and last[1] == seen
            and last[0] == manifest_digest(child)
        )

    def __len__(self) -> int:
        return len(self._seen)
