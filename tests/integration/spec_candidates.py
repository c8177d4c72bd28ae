"""Candidate LLMDeployment manifests derived from the API model's own JSON schema.

Why derived rather than listed: the question "do the API server and the operator agree?"
is about every field, including the one added next month. So the candidates come from
``LLMDeploymentSpec.model_json_schema()`` (pydantic's view, not the generated CRD: a bound
the CRD generation lost must still be probed), walked node by node:

* every scalar: its bounds, one step outside them, the wrong JSON types, ``null``, absent;
  strings also at and above ``maxLength``, empty, and with the near misses of a pattern
  (trailing newline, leading space, upper case, digits zeroed, non-ASCII); enums: every
  member, a non-member, the other case;
* every list: empty, at and above ``maxItems``, a ``null`` item, not a list; its item
  schema is walked like a field;
* every map: at and above ``maxProperties``, its values at and above ``maxLength``, keys
  near the label-key rules, ``null`` and wrong-typed values;
* every object: empty, an unknown field, each field spelled with its Python name
  (``min_replicas``) instead of its wire name, not an object;
* every CEL rule of an object: the product of small value sets of the fields it reads
  (bounds, the integer literals of the rule and their neighbours, its string literals,
  present or absent), so the cross-field validators are probed at their edges.

A mutation starts from the sample (``manifests/samples/``) that already sets the field,
so the rest of the object is realistic; a field no sample sets is grafted onto the
minimal sample with only its required neighbours. Nothing here knows what is valid: the
verdicts come from the API server and the model, and the test compares them.
"""

from __future__ import annotations

import copy
import itertools
import json
import random
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from forescale.api import identity
from forescale.api.crd import model_schema
from forescale.api.spec import LLMDeploymentSpec

REPO = Path(__file__).resolve().parents[2]
SAMPLES = REPO / "manifests" / "samples"

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1
"""The range of a JSON integer the API server stores; the bounds of an unbounded integer."""

#: Rule combinations kept per CEL rule (a deterministic sample when the product is larger).
MAX_COMBINATIONS_PER_RULE = 48

#: A generic value tried, in order, for a string no sample sets and no default gives.
_GENERIC_STRINGS = ("a", "a-b", "a.b", "/a", "s3://bucket/model", "1", "A")

JsonPath = tuple[str | int, ...]


class _Absent:
    """The field is left out of the object (not ``null``)."""

    def __repr__(self) -> str:
        return "<absent>"


ABSENT = _Absent()


@dataclass(frozen=True)
class Case:
    """One manifest to send, and what it exercises."""

    label: str
    """What was changed, for messages (``spec.engine.maxNumSeqs = 4097``)."""
    manifest: dict[str, Any]
    fields: tuple[str, ...]
    """Server paths the case set (``spec.placement.tolerations[0].key``): a rejection must
    name one of them."""
    node: str
    """The schema node exercised (``spec.placement.tolerations[*].key``), for coverage."""


@dataclass(frozen=True)
class Node:
    """One node of the spec schema."""

    path: JsonPath
    schema: dict[str, Any]
    required: bool

    @property
    def label(self) -> str:
        """The node as a coverage key: list items as ``[*]``."""
        return server_path(self.path).replace("[0]", "[*]")

    @property
    def kind(self) -> str:
        """object, map, free (preserved unknown fields), array, integer, string, boolean."""
        schema = self.schema
        if "properties" in schema:
            return "object"
        if schema.get("x-kubernetes-preserve-unknown-fields"):
            return "free"
        if schema.get("type") == "object":
            return "map"
        return str(schema["type"])


def server_path(path: JsonPath) -> str:
    """A path as the API server writes it: ``spec.a.b[0].c``."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else f".{part}" if out else part
    return out


# ---------------------------------------------------------------------------------------
# The schema, resolved
# ---------------------------------------------------------------------------------------


def spec_schema() -> dict[str, Any]:
    """The model's JSON schema (wire names), references inlined."""
    return model_schema(LLMDeploymentSpec)


def walk(
    schema: dict[str, Any], path: JsonPath = ("spec",), required: bool = True
) -> Iterator[Node]:
    """Every node of ``schema``, parents first; a list's items appear at index 0."""
    yield Node(path, schema, required)
    for name, sub in schema.get("properties", {}).items():
        yield from walk(sub, (*path, name), name in schema.get("required", []))
    if isinstance(schema.get("items"), dict):
        yield from walk(schema["items"], (*path, 0), True)


# ---------------------------------------------------------------------------------------
# Samples, lookups and grafting
# ---------------------------------------------------------------------------------------


def samples() -> list[dict[str, Any]]:
    """The sample manifests, the one setting the most first (the full sample)."""
    loaded = [yaml.safe_load(p.read_text()) for p in sorted(SAMPLES.glob("*.yaml"))]
    return sorted(loaded, key=lambda m: (-len(json.dumps(m["spec"])), m["metadata"]["name"]))


def find(document: Any, path: JsonPath) -> JsonPath | None:
    """The concrete path of ``path`` in ``document`` (index 0 matches any element)."""
    if not path:
        return ()
    head, *rest = path
    if isinstance(head, int):
        if not isinstance(document, list):
            return None
        for index, item in enumerate(document):
            found = find(item, tuple(rest))
            if found is not None:
                return (index, *found)
        return None
    if not isinstance(document, dict) or head not in document:
        return None
    found = find(document[head], tuple(rest))
    return None if found is None else (head, *found)


def get(document: Any, path: JsonPath) -> Any:
    """The value at a concrete path."""
    for part in path:
        document = document[part]
    return document


def put(document: dict[str, Any], path: JsonPath, value: Any) -> None:
    """Set (or, with ABSENT, remove) the value at a concrete path."""
    parent: Any = get(document, path[:-1])
    if value is ABSENT:
        del parent[path[-1]]
    else:
        parent[path[-1]] = copy.deepcopy(value)


class Model:
    """The schema with the samples: valid values and bases for every node."""

    def __init__(self) -> None:
        self.schema = spec_schema()
        self.nodes = list(walk(self.schema))
        self._by_path = {n.path: n for n in self.nodes}
        self.samples = samples()
        self.minimal = min(self.samples, key=lambda m: len(json.dumps(m["spec"])))

    def node(self, path: JsonPath) -> Node:
        """The schema node at a path (any list index reads as 0)."""
        generic = tuple(0 if isinstance(p, int) else p for p in path)
        return self._by_path[generic]

    def valid(self, path: JsonPath) -> Any:
        """A value the model should accept at ``path``: a sample's, the default, or the
        smallest thing the schema allows."""
        for sample in self.samples:
            found = find(sample, path)
            if found is not None:
                return copy.deepcopy(get(sample, found))
        schema = self.node(path).schema
        if schema.get("default") is not None:
            return copy.deepcopy(schema["default"])
        return self.skeleton(path)

    def skeleton(self, path: JsonPath) -> Any:
        """The smallest value of a node: an object with only its required fields."""
        node = self.node(path)
        schema = node.schema
        if node.kind == "object":
            return {name: self.valid((*path, name)) for name in schema.get("required", [])}
        if node.kind in ("map", "free"):
            return {}
        if node.kind == "array":
            return []
        if node.kind == "integer":
            return int(schema.get("minimum", 0))
        if node.kind == "boolean":
            return False
        if "enum" in schema:
            return schema["enum"][0]
        for text in _GENERIC_STRINGS:
            if re.search(schema.get("pattern", ""), text) and len(text) <= schema.get(
                "maxLength", len(text)
            ):
                return text
        raise LookupError(f"no generic string fits {server_path(path)}: {schema}")

    def base(self, path: JsonPath) -> tuple[dict[str, Any], JsonPath]:
        """A manifest in which ``path`` exists, and its concrete path there: the sample
        that sets the node already, else :meth:`grafted`."""
        for sample in self.samples:
            found = find(sample, path)
            if found is not None:
                return copy.deepcopy(sample), found
        return self.grafted(path)

    def grafted(self, path: JsonPath) -> tuple[dict[str, Any], JsonPath]:
        """The minimal sample with the parents of ``path`` added, each with only its
        required fields (no sibling that a one-of or at-most-one rule would count)."""
        manifest = copy.deepcopy(self.minimal)
        concrete: JsonPath = ()
        for part in path:
            parent = get(manifest, concrete)
            if isinstance(part, int):
                if not parent:
                    parent.append(self.skeleton((*concrete, 0)))
                concrete = (*concrete, 0)
            else:
                if part not in parent:
                    parent[part] = self.skeleton((*concrete, part))
                concrete = (*concrete, part)
        return manifest, concrete


# ---------------------------------------------------------------------------------------
# Values per node
# ---------------------------------------------------------------------------------------


def pad(text: str, length: int) -> str:
    """``text`` grown (its first character repeated in front) or cut to ``length``: the
    shape of a valid value usually survives ("32Gi" -> "33332Gi", "hf-token" -> "hhhf-token")."""
    if len(text) >= length:
        return text[:length]
    return (text[:1] or "a") * (length - len(text)) + text


def _string_variants(schema: dict[str, Any], valid: Any) -> list[tuple[str, Any]]:
    if "enum" in schema:
        members: list[str] = schema["enum"]
        return [
            *((f"member {m!r}", m) for m in members),
            ("not a member", f"{members[0]}-x"),
            ("a member in the other case", members[0].swapcase()),
            ("empty", ""),
            ("an integer", 1),
        ]
    text = valid if isinstance(valid, str) else "a"
    out: list[tuple[str, Any]] = [("valid", text), ("empty", "")]
    if "maxLength" in schema:
        limit = int(schema["maxLength"])
        out += [
            ("at maxLength", pad(text, limit)),
            ("above maxLength", pad(text, limit + 1)),
            # Lengths count characters: one here is 4 UTF-8 bytes, 2 UTF-16 units.
            ("at maxLength in astral characters", "\U0001f600" * limit),
            ("above maxLength in astral characters", "\U0001f600" * (limit + 1)),
        ]
    if schema.get("minLength", 0) > 1:
        out.append(("below minLength", pad(text, int(schema["minLength"]) - 1)))
    out += [
        ("with a trailing newline", text + "\n"),
        ("with a leading space", " " + text),
        ("upper case", text.upper()),
        ("digits zeroed", re.sub(r"[0-9]", "0", text)),
        ("non-ASCII", "é" + text[1:]),
        ("an integer", 1),
        ("a list", [text]),
    ]
    return out


def _integer_variants(schema: dict[str, Any], valid: Any) -> list[tuple[str, Any]]:
    low = int(schema.get("minimum", INT64_MIN))
    high = int(schema.get("maximum", INT64_MAX))
    number = valid if isinstance(valid, int) and not isinstance(valid, bool) else low
    return [
        ("minimum", low),
        ("maximum", high),
        ("below minimum", low - 1),
        ("above maximum", high + 1),
        ("valid", number),
        ("as a string", str(number)),
        ("as an integral float", float(number)),
        ("fractional", number + 0.5),
        ("a boolean", True),
    ]


_LABEL_KEY_EDGES = [
    ("a 63-character name", "a" * 63),
    ("a 64-character name", "a" * 64),
    ("two slashes", "a/b/c"),
    ("an empty key", ""),
]
"""Label-key edges the map rules carry as a regex (a name part of at most 63 characters,
one optional prefix); the rules' length literals are probed separately."""


def _map_variants(node: Node, valid: Any) -> list[tuple[str, Any]]:
    schema = node.schema
    entries = dict(valid) if isinstance(valid, dict) and valid else {"a": "a"}
    key, value = next(iter(entries.items()))
    values: dict[str, Any] = schema.get("additionalProperties") or {}
    out: list[tuple[str, Any]] = [("empty", {}), ("valid", entries)]
    if "maxProperties" in schema:
        most = int(schema["maxProperties"])
        out += [
            ("at maxProperties", {f"k{i}": value for i in range(most)}),
            ("above maxProperties", {f"k{i}": value for i in range(most + 1)}),
        ]
    if "maxLength" in values:
        limit = int(values["maxLength"])
        out += [
            ("a value at maxLength", {key: pad(value, limit)}),
            ("a value above maxLength", {key: pad(value, limit + 1)}),
        ]
    out += [
        ("a value with a space", {key: f"{value} x"}),
        ("an empty value", {key: ""}),
        ("a null value", {key: None}),
        ("an integer value", {key: 1}),
        ("a key with a trailing newline", {key + "\n": value}),
        ("a key with a leading space", {" " + key: value}),
        ("an upper-case key", {key.upper(): value}),
        *((label, {k: value}) for label, k in _LABEL_KEY_EDGES),
    ]
    for rule in schema.get("x-kubernetes-validations", []):
        for number in _int_literals(rule["rule"]):
            out += [
                (f"a key of {number} characters", {pad(key, number): value}),
                (f"a key of {number + 1} characters", {pad(key, number + 1): value}),
            ]
    out.append(("a list", [key]))
    return out


def _object_variants(node: Node, valid: Any) -> list[tuple[str, Any]]:
    body = dict(valid) if isinstance(valid, dict) else {}
    return [
        ("valid", body),
        ("empty", {}),
        ("an unknown field", {**body, "bogusField": 1}),
        ("a string", "x"),
    ]


def _array_variants(model: Model, node: Node) -> list[tuple[str, Any]]:
    item = model.valid((*node.path, 0))
    out: list[tuple[str, Any]] = [("empty", [])]
    if "maxItems" in node.schema:
        most = int(node.schema["maxItems"])
        out += [("at maxItems", [item] * most), ("above maxItems", [item] * (most + 1))]
    out += [("a null item", [None]), ("not a list", item)]
    return out


def variants(model: Model, node: Node) -> list[tuple[str, Any]]:
    """The values tried at one node, each with what makes it interesting."""
    valid = model.valid(node.path)
    kind = node.kind
    if kind == "integer":
        out = _integer_variants(node.schema, valid)
    elif kind == "boolean":
        out = [("true", True), ("false", False), ("as a string", "true"), ("an integer", 1)]
    elif kind == "string":
        out = _string_variants(node.schema, valid)
    elif kind == "array":
        out = _array_variants(model, node)
    elif kind == "map":
        out = _map_variants(node, valid)
    elif kind == "free":
        out = [("empty", {}), ("any fields", {"anything": [1, {"b": "c"}]}), ("a list", [])]
    else:
        out = _object_variants(node, valid)
    out.append(("null", None))
    if not isinstance(node.path[-1], int):
        out.append(("absent", ABSENT))
    return out


def snake(name: str) -> str:
    """A wire name in Python spelling (``minReplicas`` -> ``min_replicas``)."""
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name).lower()


# ---------------------------------------------------------------------------------------
# Cross-field rules
# ---------------------------------------------------------------------------------------


def _int_literals(rule: str) -> list[int]:
    """Integer literals of a CEL rule outside its string literals."""
    code = re.sub(r"r?'[^']*'", "''", rule)
    return sorted({int(n) for n in re.findall(r"(?<![\w.])\d+(?![\w.])", code)})


def _string_literals(rule: str) -> list[str]:
    """String literals of a CEL rule (raw ones, regexes, are left out)."""
    return re.findall(r"(?<![r\w])'([^']*)'", rule)


def rule_fields(node: Node, rule: str) -> list[tuple[str, ...]]:
    """The fields (relative to the rule's object) a CEL rule reads."""
    out: list[tuple[str, ...]] = []
    for match in re.finditer(r"\bself((?:\.[A-Za-z_]\w*)+)", rule):
        schema, kept = node.schema, []
        for part in match.group(1).split(".")[1:]:
            if part not in schema.get("properties", {}):
                break
            kept.append(part)
            schema = schema["properties"][part]
        if kept and tuple(kept) not in out:
            out.append(tuple(kept))
    return out


def _rule_values(model: Model, path: JsonPath, rule: str) -> list[Any]:
    node = model.node(path)
    schema, kind = node.schema, node.kind
    out: list[Any] = [ABSENT]
    if kind == "integer":
        low = int(schema.get("minimum", INT64_MIN))
        high = int(schema.get("maximum", INT64_MAX))
        numbers = {low, low + 1, high}
        for n in _int_literals(rule):
            numbers |= {n - 1, n, n + 1}
        out += sorted(n for n in numbers if low <= n <= high)
    elif kind == "boolean":
        out += [True, False]
    elif kind == "array":
        item = model.valid((*path, 0))
        out += [[], [item]]
        for text in _string_literals(rule):
            out += [[text], [f"{text}=1"], [item, text]]
    else:
        out.append(model.valid(path))
        if kind == "string":
            for text in _string_literals(rule):
                out += [text, f"{text}=1"]
    return out


def rule_cases(model: Model) -> Iterator[Case]:
    """For each CEL rule of an object: the product of the value sets of the fields it reads."""
    for node in model.nodes:
        if node.kind != "object":
            continue
        for rule in node.schema.get("x-kubernetes-validations", []):
            fields = rule_fields(node, rule["rule"])
            if not fields:
                continue
            paths = [(*node.path, *f) for f in fields]
            manifest, concrete_node = model.grafted(node.path)
            product = list(
                itertools.product(*(_rule_values(model, p, rule["rule"]) for p in paths))
            )
            if len(product) > MAX_COMBINATIONS_PER_RULE:
                product = random.Random(0).sample(product, MAX_COMBINATIONS_PER_RULE)
            for combination in product:
                case = copy.deepcopy(manifest)
                for relative, value in zip(fields, combination, strict=True):
                    _put_deep(model, case, (*concrete_node, *relative), value)
                label = ", ".join(
                    f"{server_path((*node.path, *f))}={v!r}"
                    for f, v in zip(fields, combination, strict=True)
                )
                yield Case(
                    label=f"rule {rule['rule'][:60]!r}: {label}",
                    manifest=case,
                    fields=tuple(server_path(p) for p in paths),
                    node=f"rule:{server_path(node.path)}:{rule['rule']}",
                )


def _put_deep(model: Model, manifest: dict[str, Any], path: JsonPath, value: Any) -> None:
    """``put``, creating missing parent objects (with their required fields) on the way."""
    concrete: JsonPath = ()
    for part in path[:-1]:
        parent = get(manifest, concrete)
        if part not in parent:
            if value is ABSENT:
                return
            parent[part] = model.skeleton((*concrete, part))
        concrete = (*concrete, part)
    parent = get(manifest, concrete)
    if value is ABSENT:
        parent.pop(path[-1], None)
    else:
        parent[path[-1]] = copy.deepcopy(value)


# ---------------------------------------------------------------------------------------
# All cases
# ---------------------------------------------------------------------------------------


def field_cases(model: Model) -> Iterator[Case]:
    """Every node's variants, and every field spelled with its Python name."""
    for node in model.nodes:
        manifest, concrete = model.base(node.path)
        where = server_path(concrete)
        for what, value in variants(model, node):
            case = copy.deepcopy(manifest)
            put(case, concrete, value)
            yield Case(f"{where} = {what}: {_short(value)}", case, (where,), node.label)
        if node.kind == "object":
            yield from _python_name_cases(model, node, manifest, concrete)


def _python_name_cases(
    model: Model, node: Node, manifest: dict[str, Any], concrete: JsonPath
) -> Iterator[Case]:
    for name in node.schema["properties"]:
        python = snake(name)
        if python == name:
            continue
        case = copy.deepcopy(manifest)
        parent = get(case, concrete)
        parent.pop(name, None)
        parent[python] = model.valid((*node.path, name))
        where = server_path((*concrete, python))
        yield Case(
            f"{server_path((*concrete, name))} written as {python}",
            case,
            (where,),
            model.node((*node.path, name)).label,
        )


def name_cases(model: Model, max_length: int) -> Iterator[Case]:
    """metadata.name near the rule that it names the Service (a DNS-1035 label)."""
    names = [
        "a" * max_length,
        "a" * (max_length + 1),
        "a" + "-b" * ((max_length - 1) // 2),
        "9lives",
        "Upper",
        "llama.v1",
        "trailing-",
        "under_score",
        "a" * 253,
    ]
    for name in names:
        case = copy.deepcopy(model.minimal)
        case["metadata"]["name"] = name
        yield Case(f"metadata.name = {name!r}", case, ("metadata.name",), "metadata.name")


def all_cases(max_name_length: int) -> list[Case]:
    """Every candidate, once (the same manifest reached twice is sent once)."""
    model = Model()
    seen: set[str] = set()
    out: list[Case] = []
    for case in itertools.chain(
        field_cases(model), rule_cases(model), name_cases(model, max_name_length)
    ):
        key = json.dumps(case.manifest, sort_keys=True) + case.node
        if key not in seen:
            seen.add(key)
            out.append(case)
    return out


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else f"{text[:40]}...({len(text)} chars)"


def manifest_for(spec_manifest: dict[str, Any]) -> dict[str, Any]:
    """The manifest with apiVersion and kind as the API server wants them."""
    return {"apiVersion": identity.API_VERSION, "kind": identity.KIND, **spec_manifest}
