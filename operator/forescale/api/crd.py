"""Generate the LLMDeployment CustomResourceDefinition from the typed models.

The CRD is never edited by hand: ``forescale crd`` prints it and a test fails when the
checked-in ``crds/`` copy differs. Pydantic's JSON schema is close to what the API server
wants, but a *structural* schema must be self-contained and typed everywhere, so this
module inlines ``$ref``s, turns ``Optional[X]`` into a plain optional ``X``, drops titles
and ``null`` defaults, and keeps descriptions, defaults, enums, bounds and CEL rules.
"""

from __future__ import annotations

from typing import Any

import yaml

from forescale.api import identity, names
from forescale.api.spec import INT64_MAX, INT64_MIN, LLMDeploymentSpec
from forescale.api.status import LLMDeploymentStatus

_DROP = {"title", "additionalProperties"}
_NULLABLE = "x-forescale-nullable"
"""Transient marker: the field was ``X | None`` (absent means "unset", so no default)."""


def _inline(node: Any, defs: dict[str, Any]) -> Any:
    """Inline references and turn ``X | None`` into ``X`` marked ``_NULLABLE``, recursively."""
    if isinstance(node, list):
        return [_inline(item, defs) for item in node]
    if not isinstance(node, dict):
        return node
    node = dict(node)
    while "$ref" in node or "anyOf" in node:
        if "$ref" in node:
            target = defs[node.pop("$ref").rsplit("/", 1)[-1]]
            node = {**target, **node}  # the field's own description wins over the class's
        else:
            variants = [v for v in node.pop("anyOf") if v.get("type") != "null"]
            if len(variants) != 1:
                raise ValueError(f"cannot express a union in a structural schema: {variants}")
            node = {**variants[0], **node, _NULLABLE: True}
    return {key: _inline(value, defs) for key, value in node.items()}


def model_schema(model: type[Any]) -> dict[str, Any]:
    """A pydantic model's JSON schema (wire names, as validated) with every reference
    inlined: the model's own word, before anything is changed to suit the API server."""
    raw = model.model_json_schema(by_alias=True, mode="validation")
    defs = raw.pop("$defs", {})
    schema: dict[str, Any] = _inline(raw, defs)
    return schema


def _normalise(node: Any) -> Any:
    """One inlined schema node in the structural form the API server takes, recursively."""
    if isinstance(node, list):
        return [_normalise(item) for item in node]
    if not isinstance(node, dict):
        return node
    node = dict(node)
    if "default" in node and node["default"] is None:
        del node["default"]
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key in _DROP and not (key == "additionalProperties" and isinstance(value, dict)):
            continue
        if key == "properties":
            out[key] = {name: _normalise(sub) for name, sub in value.items()}
        else:
            out[key] = _normalise(value)
    if out.get("x-kubernetes-preserve-unknown-fields"):
        out["type"] = "object"
        out.pop("additionalProperties", None)
    if out.get("type") == "integer" and (out.get("minimum"), out.get("maximum")) == (
        INT64_MIN,
        INT64_MAX,
    ):
        # The API server keeps bounds as float64, where 2**63 - 1 rounds to 2**63, and then
        # refuses every value at the edges ("boundary value must be of type integer").
        # ``format: int64`` says the same range in a form it checks exactly.
        del out["minimum"], out["maximum"]
        out["format"] = "int64"
    return out


def _object_defaults(schema: dict[str, Any]) -> None:
    """Give every optional object an empty default so its fields' defaults apply.

    The API server only defaults a field whose parent exists; ``default: {}`` on an
    object whose fields all have defaults makes a bare ``spec: {model: ...}`` complete.
    """
    for name, prop in schema.get("properties", {}).items():
        _object_defaults(prop)
        if (
            not prop.pop(_NULLABLE, False)
            and prop.get("type") == "object"
            and "properties" in prop
            and "default" not in prop
            and name not in schema.get("required", [])
            and not prop.get("required")
        ):
            prop["default"] = {}
    if "items" in schema:
        schema["items"].pop(_NULLABLE, None)
        _object_defaults(schema["items"])


def openapi_schema(model: type[Any]) -> dict[str, Any]:
    """The structural OpenAPI v3 schema of a pydantic model."""
    schema: dict[str, Any] = _normalise(model_schema(model))
    _object_defaults(schema)
    return schema


_PRINTER_COLUMNS: list[dict[str, Any]] = [
    {"name": "Model", "type": "string", "jsonPath": ".spec.model.name"},
    {"name": "Ready", "type": "integer", "jsonPath": ".status.readyReplicas"},
    {"name": "Desired", "type": "integer", "jsonPath": ".status.autoscaling.desiredReplicas"},
    {"name": "Replicas", "type": "integer", "jsonPath": ".status.replicas", "priority": 1},
    {"name": "Policy", "type": "string", "jsonPath": ".spec.scaling.policy"},
    {"name": "Mode", "type": "string", "jsonPath": ".spec.scaling.mode"},
    {
        "name": "RPS",
        "type": "string",
        "jsonPath": ".status.autoscaling.observedRequestsPerSecond",
        "description": "Observed arrival rate, requests/s",
    },
    {
        "name": "TTFT-P95",
        "type": "integer",
        "jsonPath": ".status.autoscaling.ttftP95Milliseconds",
        "description": "Observed p95 time to first token, ms",
    },
    {
        "name": "Status",
        "type": "string",
        "jsonPath": '.status.conditions[?(@.type=="Ready")].status',
    },
    {
        "name": "Reason",
        "type": "string",
        "jsonPath": '.status.conditions[?(@.type=="Ready")].reason',
        "priority": 1,
    },
    {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
]


_NAME_RULE = {
    "rule": f"self.metadata.name.size() <= {names.MAX_NAME_LENGTH} && "
    f"self.metadata.name.matches(r'{names.NAME_PATTERN}')",
    "message": f"metadata.name must be a DNS-1035 label of at most {names.MAX_NAME_LENGTH} "
    "characters (lowercase letters, digits and '-', starting with a letter): it names the "
    "LLMDeployment's Service and is a label value on its pods",
}


def build_crd() -> dict[str, Any]:
    """The CustomResourceDefinition object, as a dict."""
    spec_schema = openapi_schema(LLMDeploymentSpec)
    spec_schema["description"] = "Desired state of the LLMDeployment."
    status_schema = openapi_schema(LLMDeploymentStatus)
    status_schema["description"] = "Observed state, written by the operator."
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {
            "name": f"{identity.PLURAL}.{identity.GROUP}",
            "labels": {identity.LABEL_NAME: "forescale", identity.LABEL_COMPONENT: "crd"},
        },
        "spec": {
            "group": identity.GROUP,
            "scope": "Namespaced",
            "names": {
                "kind": identity.KIND,
                "listKind": f"{identity.KIND}List",
                "plural": identity.PLURAL,
                "singular": identity.SINGULAR,
                "shortNames": list(identity.SHORT_NAMES),
                "categories": list(identity.CATEGORIES),
            },
            "versions": [
                {
                    "name": identity.VERSION,
                    "served": True,
                    "storage": True,
                    "subresources": {
                        "status": {},
                        "scale": {
                            "specReplicasPath": ".spec.replicas",
                            "statusReplicasPath": ".status.replicas",
                            "labelSelectorPath": ".status.selector",
                        },
                    },
                    "additionalPrinterColumns": _PRINTER_COLUMNS,
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "description": "LLMDeployment serves a large language model with "
                            "vLLM and scales it ahead of demand.",
                            "required": ["spec"],
                            "x-kubernetes-validations": [_NAME_RULE],
                            "properties": {
                                "apiVersion": {"type": "string"},
                                "kind": {"type": "string"},
                                "metadata": {"type": "object"},
                                "spec": spec_schema,
                                "status": status_schema,
                            },
                        }
                    },
                }
            ],
        },
    }


def render_crd() -> str:
    """The CRD as the YAML checked in under ``crds/``."""
    header = "# Generated by `forescale crd` from operator/forescale/api/. Do not edit.\n"
    return header + yaml.safe_dump(build_crd(), sort_keys=False, width=100)
