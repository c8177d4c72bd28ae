"""Validate an object the way the API server would: defaults, OpenAPI schema, CEL rules.

The real API server is exercised by the integration tier; this is the fast, pure check that
the *generated* schema says what we mean, using jsonschema for OpenAPI and cel-python for
the ``x-kubernetes-validations`` rules.
"""

from __future__ import annotations

import copy
from typing import Any

import celpy
import jsonschema

from forescale.api.crd import build_crd


def crd_schema() -> dict[str, Any]:
    schema: dict[str, Any] = build_crd()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    return schema


def _strip_k8s(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: _strip_k8s(v) for k, v in node.items() if not k.startswith("x-kubernetes")}
    if isinstance(node, list):
        return [_strip_k8s(v) for v in node]
    return node


def apply_defaults(schema: dict[str, Any], obj: Any) -> Any:
    """Fill defaults top-down, as the API server does before validation."""
    if not isinstance(obj, dict) or "properties" not in schema:
        if isinstance(obj, list) and "items" in schema:
            return [apply_defaults(schema["items"], item) for item in obj]
        return obj
    out = dict(obj)
    for name, sub in schema["properties"].items():
        if name not in out and "default" in sub:
            out[name] = copy.deepcopy(sub["default"])
        if name in out:
            out[name] = apply_defaults(sub, out[name])
    return out


def _cel_errors(schema: dict[str, Any], obj: Any, path: str) -> list[str]:
    errors: list[str] = []
    env = celpy.Environment()
    for rule in schema.get("x-kubernetes-validations", []):
        program = env.program(env.compile(rule["rule"]))
        if not program.evaluate({"self": celpy.json_to_cel(obj)}):
            errors.append(f"{path}{rule.get('fieldPath', '')}: {rule['message']}")
    if isinstance(obj, dict):
        for name, sub in schema.get("properties", {}).items():
            if name in obj:
                errors.extend(_cel_errors(sub, obj[name], f"{path}.{name}"))
    if isinstance(obj, list) and "items" in schema:
        for i, item in enumerate(obj):
            errors.extend(_cel_errors(schema["items"], item, f"{path}[{i}]"))
    return errors


def validate(manifest: dict[str, Any]) -> list[str]:
    """Every error the API server would report for ``manifest`` (empty when valid)."""
    schema = crd_schema()
    obj = apply_defaults(schema, manifest)
    validator = jsonschema.Draft7Validator(_strip_k8s(schema))
    errors = [
        f"{'.'.join(str(p) for p in e.absolute_path)}: {e.message}"
        for e in validator.iter_errors(obj)
    ]
    if errors:
        return errors
    return _cel_errors(schema, obj, "")
