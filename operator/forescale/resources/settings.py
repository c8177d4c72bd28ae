"""Operator-wide rendering settings: what every LLMDeployment inherits unless it says otherwise.

They live on the operator (environment of its Deployment, see manifests/manager/) rather
than as CRD defaults because a CRD default is written into every object when it is created:
upgrading vLLM, or moving to a mirrored registry, would then mean editing every object.

* ``FORESCALE_DEFAULT_IMAGE``    engine image when ``spec.engine.image`` is unset.
* ``FORESCALE_MODEL_FETCH_IMAGE`` image of the init container that fetches s3://, gs:// and
  https:// weights and checks a Hugging Face token (it needs forescale's fetch script, which
  the bundled inference image carries; upstream vLLM images do not).
* ``FORESCALE_MONITOR_LABELS``   ``key=value,key=value`` labels put on every PodMonitor, so a
  Prometheus that selects monitors by label (kube-prometheus-stack: ``release=<name>``)
  finds them.
"""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from forescale.vllm_contract.release import DEFAULT_IMAGE

DEFAULT_IMAGE_ENV = "FORESCALE_DEFAULT_IMAGE"
MODEL_FETCH_IMAGE_ENV = "FORESCALE_MODEL_FETCH_IMAGE"
MONITOR_LABELS_ENV = "FORESCALE_MONITOR_LABELS"

_LABEL_KEY = re.compile(
    r"^([a-z0-9]([-a-z0-9.]*[a-z0-9])?/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$"
)
_LABEL_VALUE = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$")


@dataclass(frozen=True)
class RenderSettings:
    """What the builders need from the operator's configuration."""

    default_image: str = DEFAULT_IMAGE
    model_fetch_image: str = DEFAULT_IMAGE
    monitor_labels: Mapping[str, str] = field(default_factory=dict)


def parse_labels(text: str) -> dict[str, str]:
    """``"release=kube-prometheus-stack,team=ml"`` into a dict; a malformed pair raises."""
    labels: dict[str, str] = {}
    for pair in filter(None, (p.strip() for p in text.split(","))):
        key, sep, value = pair.partition("=")
        key, value = key.strip(), value.strip()
        if not sep or not _LABEL_KEY.match(key) or len(key) > 317:
            raise ValueError(f"{MONITOR_LABELS_ENV}: {pair!r} is not a key=value label")
        if not _LABEL_VALUE.match(value) or len(value) > 63:
            raise ValueError(f"{MONITOR_LABELS_ENV}: {value!r} is not a valid label value")
        labels[key] = value
    return labels


def settings_from_environ(environ: Mapping[str, str]) -> RenderSettings:
    """The settings an environment describes (unset or empty variables keep the defaults)."""
    return RenderSettings(
        default_image=environ.get(DEFAULT_IMAGE_ENV) or DEFAULT_IMAGE,
        model_fetch_image=environ.get(MODEL_FETCH_IMAGE_ENV) or DEFAULT_IMAGE,
        monitor_labels=parse_labels(environ.get(MONITOR_LABELS_ENV, "")),
    )


@functools.cache
def operator_settings() -> RenderSettings:
    """The running operator's settings, read from its environment once."""
    return settings_from_environ(os.environ)
