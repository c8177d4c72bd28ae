"""What a pod-template apply changed, in words a person can check against the spec.

A rolling update restarts every replica of a model server, minutes of cold start each, so
an SRE who sees one start wants to know why. The LLMDeployment's spec is not always the
answer: the operator's own settings (``FORESCALE_DEFAULT_IMAGE``), an operator upgrade
that renders a new flag, or a hand edit of the Deployment that the next apply undoes all
change the pod template with no new generation of the spec. The reconciler compares the
template the API server held before its apply with the one the apply answered (both as
the server stores them, defaults filled in, so equal fields compare equal) and posts what
differs.

Environment values are not shown, only their names: an env var may carry a credential
(forescale references Secrets by ``valueFrom``, but ``spec.engine.env`` is free-form).
"""

from __future__ import annotations

from typing import Any

MAX_SHOWN = 8
"""Changes named in one message; the rest are counted (an Event message is capped at 1 KiB)."""
_VALUE_CHARS = 120
_CONTAINER_LISTS = ("initContainers", "containers")
_NAMED_CONTAINER_FIELDS = ("image", "command", "args", "env", "resources")


def _shown(value: Any) -> str:
    text = "unset" if value is None else str(value)
    return text if len(text) <= _VALUE_CHARS else text[: _VALUE_CHARS - 3] + "..."


def _list_change(label: str, before: list[Any], after: list[Any]) -> str:
    removed = [item for item in before if item not in after]
    added = [item for item in after if item not in before]
    if not removed and not added:
        return f"{label} reordered"
    parts = [f"-{_shown(item)}" for item in removed] + [f"+{_shown(item)}" for item in added]
    return f"{label} {' '.join(parts)}"


def _env_changes(name: str, before: list[Any], after: list[Any]) -> list[str]:
    old = {e.get("name"): e for e in before if isinstance(e, dict)}
    new = {e.get("name"): e for e in after if isinstance(e, dict)}
    added = sorted(str(k) for k in new.keys() - old.keys())
    removed = sorted(str(k) for k in old.keys() - new.keys())
    changed = sorted(str(k) for k in old.keys() & new.keys() if old[k] != new[k])
    out = [f"{name} env {key} added" for key in added]
    out += [f"{name} env {key} removed" for key in removed]
    out += [f"{name} env {key} changed" for key in changed]
    if not out and before != after:
        out.append(f"{name} env reordered")
    return out


def _value_change(label: str, before: Any, after: Any) -> str:
    scalar = (str, int, float, bool, type(None))
    if isinstance(before, scalar) and isinstance(after, scalar):
        return f"{label} {_shown(before)} -> {_shown(after)}"
    if isinstance(before, list) and isinstance(after, list) and label.endswith(("args", "command")):
        return _list_change(label, before, after)
    return f"{label} changed"


def _mapping_changes(label: str, before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    """Per key of a flat mapping (pod labels, annotations, resource limits)."""
    out = []
    for key in sorted(before.keys() | after.keys()):
        if before.get(key) != after.get(key):
            out.append(_value_change(f"{label} {key}", before.get(key), after.get(key)))
    return out


def _container_changes(kind: str, before: list[Any], after: list[Any]) -> list[str]:
    old = {c.get("name"): c for c in before if isinstance(c, dict)}
    new = {c.get("name"): c for c in after if isinstance(c, dict)}
    noun = "init container" if kind == "initContainers" else "container"
    out = [f"{noun} {name} added" for name in sorted(map(str, new.keys() - old.keys()))]
    out += [f"{noun} {name} removed" for name in sorted(map(str, old.keys() - new.keys()))]
    for name in [n for n in new if n in old]:
        was, now = old[name], new[name]
        for field in sorted(was.keys() | now.keys()):
            if was.get(field) == now.get(field):
                continue
            if field == "env":
                out += _env_changes(str(name), was.get("env") or [], now.get("env") or [])
            elif field == "resources":
                for part in ("requests", "limits"):
                    out += _mapping_changes(
                        f"{name} {part}",
                        (was.get("resources") or {}).get(part) or {},
                        (now.get("resources") or {}).get(part) or {},
                    )
            elif field in _NAMED_CONTAINER_FIELDS:
                out.append(_value_change(f"{name} {field}", was.get(field), now.get(field)))
            else:
                out.append(f"{name} {field} changed")
    if not out and [c.get("name") for c in before] != [c.get("name") for c in after]:
        out.append(f"{noun}s reordered")
    return out


def pod_template_changes(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    """What differs between two pod templates, one short phrase per change.

    ``vllm image A -> B``, ``vllm args -['--max-num-seqs=256'] +['--max-num-seqs=512']``,
    ``vllm env HF_TOKEN changed``, ``terminationGracePeriodSeconds 120 -> 300``; a field
    of a kind without a phrase of its own is named as changed. Empty when they are equal.
    """
    out: list[str] = []
    old_meta, new_meta = before.get("metadata") or {}, after.get("metadata") or {}
    for part in ("labels", "annotations"):
        out += _mapping_changes(
            f"pod {part[:-1]}", old_meta.get(part) or {}, new_meta.get(part) or {}
        )
    old_spec, new_spec = before.get("spec") or {}, after.get("spec") or {}
    for field in sorted(old_spec.keys() | new_spec.keys()):
        was, now = old_spec.get(field), new_spec.get(field)
        if was == now:
            continue
        if field in _CONTAINER_LISTS:
            out += _container_changes(field, was or [], now or [])
        else:
            out.append(_value_change(field, was, now))
    return out


def describe_pod_template_changes(changes: list[str]) -> str:
    """The changes as one clause, at most ``MAX_SHOWN`` of them named."""
    shown = "; ".join(changes[:MAX_SHOWN])
    if len(changes) > MAX_SHOWN:
        shown += f" (+{len(changes) - MAX_SHOWN} more)"
    return shown
