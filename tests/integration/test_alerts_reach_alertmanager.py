"""The sandbox's alert path end to end: the shipped rules on a real Prometheus, its
notifier, the shipped Alertmanager configuration on a real Alertmanager.

promtool judges the rules and amtool the routes, each alone (test_alert_rules_promtool,
test_alertmanager_routing); here the hop between them is the real one: the Prometheus and
Alertmanager of ``fleet_stack`` (what ``forescale sandbox up`` and ``make demo`` run), wired
as it wires them, Prometheus posting what fires on Alertmanager's v2 API and Alertmanager
routing what arrives. The rules are the shipped file with every ``for`` set to 5 s (a
copy, nothing else changed), so an alert fires within seconds instead of after the
minutes a real incident waits; not at its first evaluation, which comes before
Prometheus' notifier has found the Alertmanager (it would then wait out the resend delay,
a minute, to send again).

The alert is ForescaleOperatorDown: the sandbox's Prometheus scrapes an operator port that
nothing listens on until ``forescale run`` starts. Without the Alertmanager in Prometheus'
configuration the same alert fires and nothing arrives, so what arrives is the wiring's
doing.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from forescale.sandbox.pytest_plugin import components_started
from forescale.sandbox.stack import FleetStack, fleet_stack
from tests.polling import eventually
from tests.unit.manifests.manifest_support import RULES_FILE, load

pytestmark = pytest.mark.integration

ALERT = "ForescaleOperatorDown"
SHIPPED = load(RULES_FILE)
(RULE,) = [r for g in SHIPPED["groups"] for r in g["rules"] if r.get("alert") == ALERT]


def _rules_firing_soon(path: Path) -> Path:
    """The shipped rules with each ``for`` 5 s, written to ``path``."""
    rules = copy.deepcopy(SHIPPED)
    for group in rules["groups"]:
        for rule in group["rules"]:
            if "for" in rule:
                rule["for"] = "5s"
    path.write_text(yaml.safe_dump(rules))
    return path


@pytest.fixture(params=["wired", "without-alertmanager"])
def stack(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[FleetStack]:
    """Only the stack's Alertmanager and Prometheus started (nothing else is needed)."""
    built = fleet_stack(workdir=tmp_path / "sandbox")
    built.prometheus.rule_files = [_rules_firing_soon(tmp_path / "rules.yaml")]
    if request.param == "without-alertmanager":
        built.prometheus.alertmanagers = []
    parts = [built.alertmanager, built.prometheus]
    with components_started(built.cluster, parts, "Alertmanager and Prometheus"):
        yield built


def _firing_in_prometheus(stack: FleetStack) -> bool:
    query = f'ALERTS{{alertname="{ALERT}", alertstate="firing"}}'
    return bool(stack.prometheus.require().query(query))


def _in_alertmanager(stack: FleetStack) -> dict[str, Any] | None:
    alerts = stack.alertmanager.require().alerts()
    return next((a for a in alerts if a["labels"]["alertname"] == ALERT), None)


def test_a_firing_rule_reaches_its_receiver_through_the_sandboxes_prometheus(
    stack: FleetStack, request: pytest.FixtureRequest
) -> None:
    eventually(lambda: _firing_in_prometheus(stack), 60, f"{ALERT} firing in Prometheus")
    if request.node.callspec.params["stack"] == "without-alertmanager":
        # Wired, it arrives as it fires (a second or two after): give it more.
        with pytest.raises(AssertionError, match="timed out"):
            eventually(lambda: _in_alertmanager(stack), 15, f"{ALERT} in Alertmanager")
        return
    alert = eventually(lambda: _in_alertmanager(stack), 90, f"{ALERT} in Alertmanager")
    assert alert["labels"]["severity"] == RULE["labels"]["severity"] == "critical"
    assert [r["name"] for r in alert["receivers"]] == ["forescale-page"]
    assert alert["status"]["state"] == "active"
    assert alert["annotations"]["runbook_url"] == RULE["annotations"]["runbook_url"]
    assert alert["generatorURL"].startswith(stack.prometheus.url)
