"""CEL validation rules attached to API models.

Cross-field invariants (min <= max replicas, tensor parallel size <= GPUs, ...) cannot be
said in OpenAPI, so the CRD carries them as ``x-kubernetes-validations``: the API server
rejects a violating object with the rule's message. Each model states its rules next to its
fields, and the same invariant is checked again by the model's pydantic validator so the
operator never trusts an object an older CRD let through.
"""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import ConfigDict


@dataclass(frozen=True)
class ValidationRule:
    """One ``x-kubernetes-validations`` entry."""

    rule: str
    message: str
    field_path: str | None = None

    def to_schema(self) -> dict[str, str]:
        """The rule as the CRD schema spells it."""
        out = {"rule": self.rule, "message": self.message}
        if self.field_path:
            out["fieldPath"] = self.field_path
        return out


def with_rules(base: ConfigDict, *rules: ValidationRule) -> ConfigDict:
    """A model config that adds ``rules`` to the model's generated schema."""
    extra = {"x-kubernetes-validations": [r.to_schema() for r in rules]}
    return ConfigDict(**{**base, "json_schema_extra": extra})  # type: ignore[typeddict-item]
