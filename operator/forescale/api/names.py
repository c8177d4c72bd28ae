"""The Kubernetes naming rules an LLMDeployment's values end up under, in one place.

Every rule is written twice from the same pattern: as a CEL ``matches`` for the CRD (the
API server rejects the object with a message naming the field) and as a Python check the
operator runs on objects stored before the rule existed. Values that reach a child object
(its name, a Secret reference, a pod label) must satisfy the child's rules, or the child
cannot be created and the LLMDeployment would hang in Unknown.
"""

from __future__ import annotations

import re

MAX_NAME_LENGTH = 63
"""The LLMDeployment's name is the Service's name (a DNS-1035 label) and a label value."""
NAME_PATTERN = r"^[a-z]([-a-z0-9]*[a-z0-9])?$"
DNS_SUBDOMAIN_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
"""Secret, PVC and PriorityClass names (no ``/``, no ``..``: never a path)."""
LABEL_VALUE_PATTERN = r"^(([A-Za-z0-9][-A-Za-z0-9_.]{0,61})?[A-Za-z0-9])?$"
QUALIFIED_NAME_PATTERN = (
    r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?"
    r"[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$"
)
"""Label and annotation keys: optional DNS-subdomain prefix, then a 63-character name."""
MAX_KEY_LENGTH = 253 + 1 + 63
MAX_ANNOTATION_VALUE = 4096
MAX_POD_ANNOTATIONS = 32
"""32 x 4 KiB stays well inside the API server's 256 KiB limit on all annotations."""
MAX_POD_LABELS = 32


def name_problem(name: str) -> str | None:
    """Why ``name`` cannot name an LLMDeployment's children, or None."""
    if len(name) > MAX_NAME_LENGTH:
        return (
            f"metadata.name {name!r} is {len(name)} characters; at most {MAX_NAME_LENGTH} "
            "(it names the Service and is a label value)"
        )
    if not re.fullmatch(NAME_PATTERN, name):
        return (
            f"metadata.name {name!r} must be a DNS-1035 label (lowercase letters, digits "
            "and '-', starting with a letter): it names the Service"
        )
    return None


def keys_rule(what: str) -> dict[str, str]:
    """CEL rule: every key of a map is a qualified name (label/annotation key)."""
    return {
        "rule": f"self.all(k, k.size() <= {MAX_KEY_LENGTH} && "
        f"k.matches(r'{QUALIFIED_NAME_PATTERN}'))",
        "message": f"{what} keys must be qualified names (optional DNS prefix/, then at most "
        "63 characters of letters, digits, '-', '_', '.')",
    }


def values_rule(what: str) -> dict[str, str]:
    """CEL rule: every value of a map is a label value."""
    return {
        "rule": f"self.all(k, self[k].matches(r'{LABEL_VALUE_PATTERN}'))",
        "message": f"{what} values must be label values (at most 63 characters of letters, "
        "digits, '-', '_', '.', starting and ending alphanumeric)",
    }


def check_keys(values: dict[str, str], what: str, *, label_values: bool) -> None:
    """The Python side of :func:`keys_rule` and :func:`values_rule` (raises ValueError)."""
    for key, value in values.items():
        if len(key) > MAX_KEY_LENGTH or not re.fullmatch(QUALIFIED_NAME_PATTERN, key):
            raise ValueError(keys_rule(what)["message"] + f": {key!r}")
        if label_values and not re.fullmatch(LABEL_VALUE_PATTERN, value):
            raise ValueError(values_rule(what)["message"] + f": {value!r}")
