"""Which objects and which fields belong to an LLMDeployment: pure reads of metadata.

An operator that server-side applies with ``force`` takes over whatever has the same name,
so a Service someone else made would be rewritten and, once it carries our
ownerReference, garbage-collected with the LLMDeployment. These helpers let the reconciler
refuse that (an existing object without our ownerReference is a conflict) and find what
others wrote into a child's pod template or replica count, from ``managedFields`` alone:
the API server records who set every field, so no diff against defaulted values is needed.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

ALLOWED_TEMPLATE_PATHS = frozenset(
    {("f:metadata", "f:annotations", "f:kubectl.kubernetes.io/restartedAt")}
)
"""Template fields others may set: ``kubectl rollout restart`` (a restart changes no spec)."""


def owned_by(obj: dict[str, Any], uid: str) -> bool:
    """Whether ``obj`` carries an ownerReference to the object with ``uid``."""
    refs = (obj.get("metadata") or {}).get("ownerReferences") or []
    return any(ref.get("uid") == uid for ref in refs)


def conflict_message(obj: dict[str, Any], llmd_name: str) -> str:
    """What a person reads when a child's name is already taken by someone else's object."""
    meta = obj.get("metadata") or {}
    kind, name = obj.get("kind", "object"), meta.get("name", "?")
    owners = [f"{r.get('kind')}/{r.get('name')}" for r in meta.get("ownerReferences") or []]
    held = f"owned by {', '.join(owners)}" if owners else "not created by forescale"
    return (
        f"{kind} {name} already exists and is {held}; forescale leaves it untouched. "
        f"Rename the LLMDeployment or remove that {kind} so {llmd_name} can create its own."
    )


def _leaves(fields: dict[str, Any], prefix: tuple[str, ...]) -> Iterator[tuple[str, ...]]:
    """Every path of a fieldsV1 tree (a leaf is an empty dict; ``.`` marks a set node)."""
    for key, sub in fields.items():
        if key == ".":
            continue
        path = (*prefix, key)
        if isinstance(sub, dict) and any(k != "." for k in sub):
            yield from _leaves(sub, path)
        else:
            yield path


def _subtree(entry: dict[str, Any], path: tuple[str, ...]) -> dict[str, Any]:
    node: Any = entry.get("fieldsV1") or {}
    for key in path:
        if not isinstance(node, dict) or key not in node:
            return {}
        node = node[key]
    return node if isinstance(node, dict) else {}


def managed_paths(
    obj: dict[str, Any], root: tuple[str, ...], managers: set[str] | None, *, exclude: bool
) -> set[tuple[str, ...]]:
    """Leaf paths under ``root`` owned by ``managers`` (or by all others, with ``exclude``)."""
    out: set[tuple[str, ...]] = set()
    for entry in (obj.get("metadata") or {}).get("managedFields") or []:
        name = entry.get("manager", "")
        chosen = managers is None or ((name in managers) != exclude)
        if chosen and entry.get("subresource") != "status":
            out.update(_leaves(_subtree(entry, root), ()))
    return out


TEMPLATE = ("f:spec", "f:template")


def foreign_template_fields(obj: dict[str, Any], ours: set[str]) -> list[str]:
    """Pod-template fields only other managers set: injected sidecars, privileges, hostNetwork.

    A field both we and another manager own has our value (we apply with force), so only
    fields we never set are foreign. Returns readable paths, sorted; empty when clean.
    """
    foreign = managed_paths(obj, TEMPLATE, ours, exclude=True)
    mine = managed_paths(obj, TEMPLATE, ours, exclude=False)
    extra = {p for p in foreign - mine if p not in ALLOWED_TEMPLATE_PATHS}
    # A field inside a list item we own (e.g. a container) is still foreign if we never
    # set it; but the item's key fields (f:name of k:{"name":...}) come with the item.
    extra = {p for p in extra if not (p[-1] == "f:name" and p[:-1] and p[-2].startswith("k:"))}
    return sorted(".".join(k.split(":", 1)[-1] for k in ("f:template", *p)) for p in extra)


def replicas_writer(obj: dict[str, Any]) -> tuple[str, str] | None:
    """The manager that owns ``spec.replicas`` of a Deployment and when it wrote, if any.

    Whoever writes a field last owns it, so this names the last writer of the count.
    """
    for entry in (obj.get("metadata") or {}).get("managedFields") or []:
        if "f:replicas" in (_subtree(entry, ("f:spec",)) or {}):
            return str(entry.get("manager", "")), str(entry.get("time", ""))
    return None
