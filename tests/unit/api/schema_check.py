"""Validate an object the way the API server would: defaults, OpenAPI schema, CEL rules.

The real API server is exercised by the integration tier (test_crd_model_agreement.py
compares it with the model over candidates derived from the schema); this is the fast,
pure check that the *generated* schema says what we mean, using jsonschema for OpenAPI and
cel-python for the ``x-kubernetes-validations`` rules. Like ``kubectl apply`` (strict field
validation), it refuses fields the schema does not declare, and, like the server, integers
outside int64 (``format: int64``).
"""

from __future__ import annotations

import copy
from typing import Any

import celpy
import jsonschema

from forescale.api.crd import build_crd
from forescale.api.spec import INT64_MAX, INT64_MIN

_FORMATS = jsonschema.FormatChecker(formats=())


@_FORMATS.checks("int64")
def _int64(value: object) -> bool:
    return not isinstance(value, int) or INT64_MIN <= value <= INT64_MAX


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


def _unknown_fields(schema: dict[str, Any], obj: Any, path: str) -> list[str]:
    """Fields ``schema`` does not declare (``spec.scaling.min_replicas``): the API server
    refuses them under strict field validation, kubectl's default, and drops them otherwise."""
    errors: list[str] = []
    if isinstance(obj, dict) and "properties" in schema:
        for name, value in obj.items():
            where = f"{path}.{name}" if path else name
            if name not in schema["properties"]:
                errors.append(f"{where}: unknown field")
            else:
                errors.extend(_unknown_fields(schema["properties"][name], value, where))
    elif isinstance(obj, dict) and isinstance(schema.get("additionalProperties"), dict):
        for name, value in obj.items():
            errors.extend(_unknown_fields(schema["additionalProperties"], value, f"{path}.{name}"))
    elif isinstance(obj, list) and "items" in schema:
        for i, item in enumerate(obj):
            errors.extend(_unknown_fields(schema["items"], item, f"{path}[{i}]"))
    return errors


def validate(manifest: dict[str, Any]) -> list[str]:
    """Every error the API server would report for ``manifest`` (empty when valid)."""
    schema = crd_schema()
    obj = apply_defaults(schema, manifest)
    validator = jsonschema.Draft7Validator(_strip_k8s(schema), format_checker=_FORMATS)
    errors = [
        f"{'.'.join(str(p) for p in e.absolute_path)}: {e.message}"
        for e in validator.iter_errors(obj)
    ]
    errors += _unknown_fields(schema, obj, "")
    if errors:
        return errors
    return _cel_errors(schema, obj, "")
