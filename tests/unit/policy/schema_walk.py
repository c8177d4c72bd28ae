"""Walking spec.scaling's schema: every scalar field, its pydantic metadata, and a
document with one field set (what the spec-mapping and the extreme-values tests share)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pydantic import BaseModel
from pydantic.fields import FieldInfo

from forescale.api.spec import ScalingSpec

MODEL = {"model": {"name": "meta-llama/Llama-3.1-8B-Instruct"}}


def _leaves(model: type[BaseModel], prefix: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    """Paths (python names) of every scalar field under ``model``, nested models walked."""
    for name, info in model.model_fields.items():
        nested = _model_of(info)
        if nested is not None:
            yield from _leaves(nested, (*prefix, name))
        else:
            yield (*prefix, name)


def _model_of(info: FieldInfo) -> type[BaseModel] | None:
    annotation = info.annotation
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    return None


def field_info(path: tuple[str, ...]) -> FieldInfo:
    model: type[BaseModel] = ScalingSpec
    for name in path[:-1]:
        nested = _model_of(model.model_fields[name])
        assert nested is not None
        model = nested
    return model.model_fields[path[-1]]


#: Fields valid only beside others (set in both documents the walk compares).
PREREQUISITES: dict[str, dict[str, object]] = {
    "capacity.prompt_tokens_per_second": {
        "requests_per_second": "2",
        "output_tokens_per_second": 400,
    },
}


def document(
    path: tuple[str, ...],
    value: object | None = None,
    scaling: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A LLMDeployment document: ``scaling`` (default: the API's defaults, python names)
    with the field's prerequisites and, given, its ``value``. Python names are not the
    wire's: read it with ``LLMDeploymentSpec.model_validate(..., by_name=True)``."""
    scaling = scaling if scaling is not None else ScalingSpec().model_dump()
    node = scaling
    for name in path[:-1]:
        node = node[name]
    node.update(PREREQUISITES.get(".".join(path), {}))
    if value is not None:
        node[path[-1]] = value
    return {**MODEL, "scaling": scaling}


LEAVES = list(_leaves(ScalingSpec))
"""Every scalar field of spec.scaling, as a path of python names."""
