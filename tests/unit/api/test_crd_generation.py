"""The checked-in CRD is exactly what ``forescale crd`` generates, and is structural."""

from __future__ import annotations

import re
from typing import Any

from click.testing import CliRunner

from forescale.api.crd import build_crd, render_crd
from forescale.cli import main
from tests.conftest import CRD_FILE


def test_checked_in_crd_matches_generator() -> None:
    assert CRD_FILE.read_text() == render_crd(), "crds/ drifted: run `make crd`"


def test_cli_prints_the_crd() -> None:
    result = CliRunner().invoke(main, ["crd"])
    assert result.exit_code == 0, result.output
    assert result.output == render_crd()


def _walk(node: Any, path: str = "") -> list[tuple[str, dict[str, Any]]]:
    out = []
    if isinstance(node, dict):
        if "type" in node or "properties" in node:
            out.append((path, node))
        for name, sub in node.get("properties", {}).items():
            out.extend(_walk(sub, f"{path}.{name}"))
        if "items" in node:
            out.extend(_walk(node["items"], f"{path}[]"))
    return out


def test_schema_is_structural_and_described() -> None:
    schema = build_crd()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    spec = schema["properties"]["spec"]
    for path, node in _walk(spec, "spec"):
        assert "type" in node, f"{path} has no type"
        scalar_item = path.endswith("[]") and node["type"] != "object"
        assert scalar_item or node.get("description"), f"{path} has no description"
        assert "$ref" not in node and "anyOf" not in node and "title" not in node, path


def test_subresources_names_and_columns() -> None:
    crd = build_crd()
    version = crd["spec"]["versions"][0]
    assert version["subresources"]["scale"] == {
        "specReplicasPath": ".spec.replicas",
        "statusReplicasPath": ".status.replicas",
        "labelSelectorPath": ".status.selector",
    }
    assert "status" in version["subresources"]
    assert crd["spec"]["names"]["shortNames"] == ["llmd"]
    assert set(crd["spec"]["names"]["categories"]) == {"all", "forescale"}
    columns = [c["name"] for c in version["additionalPrinterColumns"]]
    for expected in ("Model", "Ready", "Desired", "Policy", "Mode", "RPS", "TTFT-P95", "Age"):
        assert expected in columns


def test_conditions_are_a_map_keyed_by_type() -> None:
    status = build_crd()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["status"]
    conditions = status["properties"]["conditions"]
    assert conditions["x-kubernetes-list-type"] == "map"
    assert conditions["x-kubernetes-list-map-keys"] == ["type"]
    assert "phase" not in status["properties"]


def test_no_floats_in_spec() -> None:
    spec = build_crd()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
    for path, node in _walk(spec, "spec"):
        assert node.get("type") != "number", f"{path} is a float"


def test_rules_on_an_object_defaulted_to_empty_guard_the_keys_they_read() -> None:
    """The API server evaluates an object's CEL rules against its schema default too: a
    rule on ``spec.scaling`` (default ``{}``) that reads ``self.seasonPeriodSeconds``
    without ``has()`` made the real kube-apiserver refuse the whole CRD ("no such key")."""
    spec = build_crd()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
    checked = 0
    for path, node in _walk(spec, "spec"):
        if node.get("default") != {}:
            continue
        for validation in node.get("x-kubernetes-validations", []):
            rule = validation["rule"]
            for key in set(re.findall(r"self\.(\w+)", rule)):
                assert f"has(self.{key})" in rule, f"{path}: {rule} reads {key} unguarded"
            checked += 1
    assert checked >= 1


_COLUMN_TYPES = {"string": {"string"}, "integer": {"integer"}, "number": {"number", "integer"}}


def _schema_at(root: dict[str, Any], path: str) -> dict[str, Any] | None:
    """The schema node a printer-column JSONPath reads (``[?(...)]`` steps into the list's
    items), or None when a step names no property."""
    node: dict[str, Any] | None = root
    for name, selector in re.findall(r"\.([A-Za-z0-9_]+)(\[[^\]]*\])?", path):
        if node is None or name not in node.get("properties", {}):
            return None
        node = node["properties"][name]
        if selector:
            node = node.get("items")
    return node


def test_columns_and_scale_paths_name_fields_the_schema_has() -> None:
    """A column whose path names no field prints ``<none>`` in ``kubectl get llmd``, and no
    API server or kubectl says so: renaming a status field would blank the column quietly.
    Each path must reach a field of the column's type (metadata is the server's own)."""
    version = build_crd()["spec"]["versions"][0]
    root = version["schema"]["openAPIV3Schema"]
    for column in version["additionalPrinterColumns"]:
        path = column["jsonPath"]
        if path.startswith(".metadata."):
            continue
        node = _schema_at(root, path)
        assert node is not None, f"column {column['name']}: {path} names no field"
        assert node.get("type") in _COLUMN_TYPES.get(column["type"], {column["type"]}), (
            f"column {column['name']} is {column['type']}, {path} is {node.get('type')}"
        )
    scale = version["subresources"]["scale"]
    for key in ("specReplicasPath", "statusReplicasPath"):
        node = _schema_at(root, scale[key])
        assert node is not None and node.get("type") == "integer", (key, node)
    assert _schema_at(root, scale["labelSelectorPath"]) is not None
