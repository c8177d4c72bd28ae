"""forescale's alerts routed by a real Alertmanager with the shipped configuration.

``manifests/prometheus/alertmanager.yaml`` is what an SRE merges into their Alertmanager
configuration. Debian's prometheus-alertmanager package gives the judges: ``amtool`` checks
the file and resolves every alert of ``rules.yaml`` (with the labels promtool's unit tests
saw its evaluation produce) to a receiver; a real Alertmanager on
127.0.0.1 (clustering off, so nothing else listens) takes alerts on its v2 API as
Prometheus posts them and shows which one its inhibit rule silences. The same Alertmanager
without the inhibit rule shows both alerts active, so the silence is the rule's doing.
"""

from __future__ import annotations

import datetime
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from forescale.sandbox.alertmanager_server import AlertmanagerServer
from tests.polling import eventually
from tests.tools import system_tool
from tests.unit.manifests.manifest_support import PROMTOOL_TESTS, RULES_FILE, load

pytestmark = pytest.mark.integration

CONFIG = RULES_FILE.parent / "alertmanager.yaml"
PAGE, TICKET, DEFAULT = "forescale-page", "forescale-ticket", "default"
RULES = [rule for group in load(RULES_FILE)["groups"] for rule in group["rules"] if "alert" in rule]


def _binary(name: str) -> str:
    return system_tool(name, "prometheus-alertmanager")


def _sent() -> list[dict[str, str]]:
    """The label sets Prometheus sends for the alerts: those promtool's unit tests expect of
    each rule's evaluation (its name, its own labels, what its expression keeps), so the
    routes are judged on labels a real evaluation produced, not on ones written here."""
    found: dict[tuple[tuple[str, str], ...], dict[str, str]] = {}
    for path in sorted(PROMTOOL_TESTS.glob("*.yaml")):
        for case in yaml.safe_load(path.read_text())["tests"]:
            for check in case.get("alert_rule_test", []):
                for alert in check.get("exp_alerts", []):
                    labels = {"alertname": check["alertname"], **alert["exp_labels"]}
                    found[tuple(sorted(labels.items()))] = labels
    return list(found.values())


SENT = _sent()


def _one_sent(alertname: str) -> dict[str, str]:
    return next(labels for labels in SENT if labels["alertname"] == alertname)


def _amtool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [_binary("amtool"), *args], capture_output=True, text=True, timeout=60, check=False
    )


def test_amtool_accepts_the_configuration() -> None:
    done = _amtool("check-config", str(CONFIG))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 inhibit rules" in done.stdout and "3 receivers" in done.stdout, done.stdout


def test_every_rule_is_sent_with_the_labels_promtool_saw() -> None:
    assert {str(rule["alert"]) for rule in RULES} == {a["alertname"] for a in SENT}


@pytest.mark.parametrize(
    "labels", SENT, ids=lambda labels: "-".join(labels[k] for k in sorted(labels))
)
def test_each_alert_reaches_its_receiver(labels: dict[str, str]) -> None:
    expected = PAGE if labels["severity"] == "critical" else TICKET
    done = _amtool(
        "config", "routes", "test", f"--config.file={CONFIG}", f"--verify.receivers={expected}",
        *(f"{key}={value}" for key, value in labels.items()),
    )  # fmt: skip
    assert done.returncode == 0, (labels, done.stdout + done.stderr)


def test_every_rule_has_a_severity_the_routes_know() -> None:
    assert {rule["labels"]["severity"] for rule in RULES} == {"critical", "warning"}


def test_other_alerts_fall_through_to_the_default_receiver() -> None:
    done = _amtool(
        "config", "routes", "test", f"--config.file={CONFIG}", f"--verify.receivers={DEFAULT}",
        "alertname=KubePodCrashLooping", "severity=critical", "namespace=ml",
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.fixture
def alertmanager(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[AlertmanagerServer]:
    config = CONFIG
    if getattr(request, "param", None) == "no-inhibit-rule":
        config = tmp_path / "alertmanager.yaml"
        loaded = yaml.safe_load(CONFIG.read_text())
        del loaded["inhibit_rules"]
        config.write_text(yaml.safe_dump(loaded))
    manager = AlertmanagerServer(config, tmp_path)
    manager.start()
    try:
        yield manager
    finally:
        manager.stop()


def _post(manager: AlertmanagerServer, labels: list[dict[str, str]]) -> None:
    """Send alerts with ``labels`` as Prometheus' notifier would, active for 10 minutes."""
    now = datetime.datetime.now(datetime.UTC)
    alerts = [
        {
            "labels": each,
            "annotations": {"summary": f"{each['alertname']} (posted)"},
            "startsAt": now.isoformat(),
            "endsAt": (now + datetime.timedelta(minutes=10)).isoformat(),
        }
        for each in labels
    ]
    manager.api("/api/v2/alerts", alerts)


def _by_deployment(alerts: list[dict[str, Any]]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(a["labels"]["alertname"], a["labels"]["llmdeployment"]): a for a in alerts}


def _degraded_and_not_ready(manager: AlertmanagerServer) -> None:
    """ "broken" is Degraded and has replicas not Ready; "slow" only the latter."""
    degraded = _one_sent("LLMDeploymentDegraded") | {"llmdeployment": "broken"}
    not_ready = _one_sent("LLMDeploymentReplicasNotReady")
    _post(
        manager,
        [degraded, not_ready | {"llmdeployment": "broken"}, not_ready | {"llmdeployment": "slow"}],
    )


def test_a_degraded_deployment_silences_its_own_replicas_not_ready(
    alertmanager: AlertmanagerServer,
) -> None:
    _degraded_and_not_ready(alertmanager)

    def settled() -> dict[tuple[str, str], dict[str, Any]] | None:
        alerts = _by_deployment(alertmanager.alerts())
        suppressed = alerts.get(("LLMDeploymentReplicasNotReady", "broken"), {}).get("status", {})
        return alerts if len(alerts) == 3 and suppressed.get("state") == "suppressed" else None

    alerts = eventually(settled, 30, "ReplicasNotReady of the Degraded deployment suppressed")
    silenced = alerts[("LLMDeploymentReplicasNotReady", "broken")]["status"]
    source = alerts[("LLMDeploymentDegraded", "broken")]
    assert silenced["inhibitedBy"] == [source["fingerprint"]]
    assert source["status"]["state"] == "active"
    assert alerts[("LLMDeploymentReplicasNotReady", "slow")]["status"]["state"] == "active"
    assert {name: [r["name"] for r in a["receivers"]] for name, a in alerts.items()} == {
        name: [TICKET] for name in alerts
    }


@pytest.mark.parametrize("alertmanager", ["no-inhibit-rule"], indirect=True)
def test_without_the_inhibit_rule_both_alerts_stay_active(
    alertmanager: AlertmanagerServer,
) -> None:
    _degraded_and_not_ready(alertmanager)
    eventually(lambda: len(alertmanager.alerts()) == 3, 30, "three alerts")
    # Three seconds: with the rule, the first answer after the post shows the suppression.
    for _ in range(10):
        alerts = alertmanager.alerts()
        assert {a["status"]["state"] for a in alerts} == {"active"}, alerts
        time.sleep(0.3)
