"""Regenerate prometheus_rule.yaml from rules.yaml (the single source of the alert rules).

    python manifests/prometheus/sync_rule.py

tests/unit/manifests/test_alert_rules.py fails when the two files disagree.
"""

from __future__ import annotations

from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
HEADER = """\
# GENERATED from rules.yaml by sync_rule.py: edit rules.yaml, then re-run the script.
# prometheus-operator loads this PrometheusRule; if your Prometheus selects rules by label
# (kube-prometheus-stack: release=<its release name>), add that label in an overlay.
"""


class _Dumper(yaml.SafeDumper):
    """Multi-line strings (PromQL) as literal blocks, so the output stays readable."""


def _string(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _string)


def render() -> str:
    groups = yaml.safe_load((HERE / "rules.yaml").read_text())["groups"]
    rule = {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PrometheusRule",
        "metadata": {
            "name": "forescale",
            "namespace": "forescale-system",
            "labels": {"app.kubernetes.io/name": "forescale", "role": "alert-rules"},
        },
        "spec": {"groups": groups},
    }
    return HEADER + yaml.dump(rule, Dumper=_Dumper, sort_keys=False, width=100)


if __name__ == "__main__":
    (HERE / "prometheus_rule.yaml").write_text(render())
