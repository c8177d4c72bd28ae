"""API Priority and Fairness throttling made by the real API server, for the length of a test.

A busy cluster answers a client's requests with 429 and a ``Retry-After`` header when the
priority level its FlowSchema puts it in has no seat free. To make that happen on demand,
without flooding a two-core machine, the operator's user and a second user (the hog) are
put in one priority level that has no seats of its own and may not borrow
(``nominalConcurrencyShares: 0``, ``borrowingLimitPercent: 0``, ``limitResponse: Reject``).
The API server still runs a request when nothing of the level is executing, so the
level serves requests one at a time. The hog then holds that one execution slot: it
creates a ConfigMap that a loopback validating webhook keeps waiting (admission runs
inside the seat). While it waits, every request of the operator's user gets 429, whatever
its verb, the way a saturated priority level rejects; once the webhook answers, the level
serves again.

The hold is counted from the moment the webhook has the hog's request, not from when the
hog's kubectl started: the hog competes for the one seat with the operator's own requests,
and each 429 it meets costs it a ``Retry-After`` before its hold even begins.
"""

from __future__ import annotations

import base64
import contextlib
import json
import queue
import re
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import kubernetes
import yaml

from forescale.handlers.api_client import ApiError, ClusterClient
from forescale.sandbox.certificates import write_leaf
from forescale.sandbox.cluster import Cluster
from forescale.sandbox.pytest_plugin import Kubectl
from tests.loopback import answer_json, serving
from tests.polling import eventually

from .admission_support import validating_webhook
from .operator_support import operator_username

HOG = "forescale-test-hog"
"""The user whose one slow request holds the priority level's slot."""
WEBHOOK_TIMEOUT_SECONDS = 30
"""The most a webhook may keep a request waiting (admissionregistration/v1's bound)."""
HOG_PATIENCE_SECONDS = 120
"""How long the hog keeps asking for the level's seat before the test fails."""
HOLD_LABEL = "forescale.io/hold"
"""On the hog's ConfigMaps: the webhook's object selector."""
HOLD_ANNOTATION = "forescale.io/hold-seconds"
"""On the hog's ConfigMaps: how long the webhook keeps the request waiting."""


def flow_schema_uid(kubectl: Kubectl, name: str) -> str:
    """The UID of FlowSchema ``name``: what the API server names on each answer."""
    return kubectl.ok("get", "flowschema", name, "-o", "jsonpath={.metadata.uid}").strip()


def throttled_now(kubeconfig: Path) -> bool:
    """Whether a GET by ``kubeconfig``'s user is answered 429 (sent once, no resend)."""
    configuration = kubernetes.client.Configuration()
    kubernetes.config.load_kube_config(str(kubeconfig), client_configuration=configuration)
    client = ClusterClient(configuration)
    try:
        client._call("GET", "/api/v1/namespaces/default", patience=0.0)
    except ApiError as err:
        return err.status == 429
    finally:
        client.close()
    return False


@dataclass(frozen=True)
class Throttle:
    """The priority level of one in place, named by its FlowSchema's UID (the API server
    names it in each 429's ``X-Kubernetes-PF-FlowSchema-UID`` header)."""

    kubectl: Kubectl
    namespace: str
    flow_schema_uid: str
    holds: queue.Queue[float]

    @contextlib.contextmanager
    def held(self, seconds: float) -> Iterator[None]:
        """The level throttled for about ``seconds`` (at most the webhook timeout less
        2 s) from when the webhook has the hog's request; the block starts once the
        operator's user is answered 429 and ends no earlier than the hog's request, which
        must have ended by then."""
        assert seconds <= WEBHOOK_TIMEOUT_SECONDS - 2, seconds
        held = {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {
                "generateName": "hold-",
                "labels": {HOLD_LABEL: "true"},
                "annotations": {HOLD_ANNOTATION: str(seconds)},
            },
        }
        while not self.holds.empty():
            self.holds.get_nowait()
        hog = _Hog(self.kubectl, f"/api/v1/namespaces/{self.namespace}/configmaps", held)
        hog.start()
        begun = _hold_begun(self.holds, hog)
        eventually(
            lambda: throttled_now(self.kubectl.operator_kubeconfig),
            5,
            "the operator's user throttled",
        )
        yield
        hog.join(max(0.0, begun + seconds + 10 - time.monotonic()))
        late = f"the hold began {begun - hog.started:.1f} s after the hog's first try"
        assert not hog.is_alive(), f"the hog's request outlived its hold ({late})"
        assert hog.answers[-1].returncode == 0, (
            f"the hog's create failed ({late}): {hog.answers[-1].stderr}"
        )


class _Hog(threading.Thread):
    """The hog's create, sent until the webhook has it (a few minutes at most): it
    competes for the level's one seat with the operator's requests, and client-go gives
    up after ten 429s. The object goes in a file, not stdin: client-go sends a request
    again only if it can rewind the body."""

    def __init__(self, kubectl: Kubectl, path: str, obj: dict[str, Any]) -> None:
        super().__init__(daemon=True)
        self.kubectl = kubectl
        self.path = path
        self.obj = obj
        self.started = time.monotonic()
        self.answers: list[subprocess.CompletedProcess[str]] = []

    def run(self) -> None:
        with tempfile.TemporaryDirectory() as workdir:
            manifest = Path(workdir) / "hold.json"
            manifest.write_text(json.dumps(self.obj))
            create = ("create", "--raw", self.path, f"--as={HOG}", f"--filename={manifest}")
            while time.monotonic() < self.started + HOG_PATIENCE_SECONDS:
                self.answers.append(self.kubectl(*create))
                if (
                    self.answers[-1].returncode == 0
                    or "TooManyRequests" not in self.answers[-1].stderr
                ):
                    return


def _hold_begun(holds: queue.Queue[float], hog: _Hog) -> float:
    """When the webhook received the hog's request (monotonic); fails with kubectl's
    error if the hog gave up first."""
    while True:
        try:
            return holds.get(timeout=0.2)
        except queue.Empty:
            if not hog.is_alive():
                stderr = hog.answers[-1].stderr if hog.answers else "no answer"
                tries = len(hog.answers)
                raise AssertionError(
                    f"the hog's request never reached the webhook in {tries} tries: {stderr}"
                ) from None


class _HoldingServer(ThreadingHTTPServer):
    """The holding webhook's server on a free loopback port; ``holds`` gets the time each
    hold begins, for the test to count the hold from."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _HoldingWebhook)
        self.holds: queue.Queue[float] = queue.Queue()


class _HoldingWebhook(BaseHTTPRequestHandler):
    """Allows every AdmissionReview, after the object's ``forescale.io/hold-seconds``."""

    server: _HoldingServer

    def do_POST(self) -> None:
        review = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        annotations = review["request"]["object"]["metadata"].get("annotations", {})
        self.server.holds.put(time.monotonic())
        time.sleep(float(annotations.get(HOLD_ANNOTATION, 0)))
        response = {"uid": review["request"]["uid"], "allowed": True}
        answer_json(
            self,
            {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "response": response},
        )

    def log_message(self, *args: Any) -> None:
        """Quiet: the test reads the API server's answers, not the webhook's."""


def _manifests(namespace: str, user: str, port: int, ca_bundle: str) -> list[dict[str, Any]]:
    name = f"throttle-{namespace}"
    flow_rule = {
        "subjects": [{"kind": "User", "user": {"name": u}} for u in (user, HOG)],
        "resourceRules": [
            {
                "verbs": ["*"],
                "apiGroups": ["*"],
                "resources": ["*"],
                "namespaces": ["*"],
                "clusterScope": True,
            }
        ],
        "nonResourceRules": [{"verbs": ["*"], "nonResourceURLs": ["*"]}],
    }
    return [
        {
            "apiVersion": "flowcontrol.apiserver.k8s.io/v1",
            "kind": "PriorityLevelConfiguration",
            "metadata": {"name": name},
            "spec": {
                "type": "Limited",
                "limited": {
                    "nominalConcurrencyShares": 0,
                    "lendablePercent": 0,
                    "borrowingLimitPercent": 0,
                    "limitResponse": {"type": "Reject"},
                },
            },
        },
        {
            "apiVersion": "flowcontrol.apiserver.k8s.io/v1",
            "kind": "FlowSchema",
            "metadata": {"name": name},
            "spec": {
                # After the shipped forescale-leader-election (250), before the defaults
                # (service-accounts 9000, global-default 9900).
                "matchingPrecedence": 5000,
                "priorityLevelConfiguration": {"name": name},
                "distinguisherMethod": {"type": "ByUser"},
                "rules": [flow_rule],
            },
        },
        validating_webhook(
            namespace,
            {"url": f"https://127.0.0.1:{port}/hold", "caBundle": ca_bundle},
            {
                "apiGroups": [""],
                "apiVersions": ["v1"],
                "operations": ["CREATE"],
                "resources": ["configmaps"],
            },
            objectSelector={"matchLabels": {HOLD_LABEL: "true"}},
            failurePolicy="Ignore",
            timeoutSeconds=WEBHOOK_TIMEOUT_SECONDS,
        ),
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "Role",
            "metadata": {"name": "hog", "namespace": namespace},
            "rules": [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["create"]}],
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": {"name": "hog", "namespace": namespace},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "hog"},
            "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": HOG}],
        },
    ]


@contextlib.contextmanager
def priority_level_of_one(kubectl: Kubectl, namespace: str, cluster: Cluster) -> Iterator[Throttle]:
    """The operator's user (and the hog) in a priority level that serves one request at a
    time, with the holding webhook (serving with a leaf of the sandbox CA) in place;
    ``Throttle.held`` then throttles it."""
    user = operator_username(kubectl)
    ca = (Path(cluster.extras["ca_cert"]), Path(cluster.extras["ca_key"]))
    cert, key = write_leaf(
        cluster.workdir / f"webhook-{namespace}", "webhook", *ca, "127.0.0.1",
        ip_addresses=["127.0.0.1"], server=True,
    )  # fmt: skip
    webhook = _HoldingServer()
    with serving(webhook, tls=(cert, key)):
        ca_bundle = base64.b64encode(ca[0].read_bytes()).decode()
        port = webhook.server_address[1]
        manifests = yaml.safe_dump_all(_manifests(namespace, user, port, ca_bundle))
        kubectl.ok("apply", "-f", "-", input=manifests)
        try:
            uid = flow_schema_uid(kubectl, f"throttle-{namespace}")
            yield Throttle(kubectl, namespace, uid, webhook.holds)
        finally:
            kubectl("delete", "-f", "-", "--ignore-not-found", "--wait=true", input=manifests)


def flow_schema_of(kubectl: Kubectl, *args: str) -> str:
    """The UID of the FlowSchema the API server put the request ``kubectl *args`` sends
    first in (``X-Kubernetes-PF-FlowSchema-UID``, on every answer, a 404 too; after a
    404 kubectl reads the namespace too)."""
    answer = kubectl(*args, "-v=8")
    found = re.findall(r"X-Kubernetes-Pf-Flowschema-Uid: (\S+)", answer.stderr)
    assert found, answer.stderr[-2000:]
    return str(found[0])
