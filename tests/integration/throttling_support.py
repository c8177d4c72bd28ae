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
"""

from __future__ import annotations

import base64
import contextlib
import json
import re
import ssl
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import yaml

from forescale.sandbox.certificates import write_leaf
from forescale.sandbox.cluster import Cluster
from forescale.sandbox.pytest_plugin import Kubectl

from .admission_support import validating_webhook

HOG = "forescale-test-hog"
"""The user whose one slow request holds the priority level's slot."""
WEBHOOK_TIMEOUT_SECONDS = 30
"""The most a webhook may keep a request waiting (admissionregistration/v1's bound)."""


HOLD_ANNOTATION = "forescale.io/hold-seconds"


@dataclass(frozen=True)
class Throttle:
    """The priority level of one in place, named by its FlowSchema's UID (the API server
    names it in each 429's ``X-Kubernetes-PF-FlowSchema-UID`` header)."""

    kubectl: Kubectl
    namespace: str
    flow_schema_uid: str

    def hold(self, seconds: float) -> threading.Thread:
        """Throttle the level for about ``seconds`` (at most the webhook timeout less 2 s):
        the hog's request, started in a thread that ends when the webhook lets it go."""
        assert seconds <= WEBHOOK_TIMEOUT_SECONDS - 2, seconds
        held = {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {
                "generateName": "hold-",
                "namespace": self.namespace,
                "labels": {"forescale.io/hold": "true"},
                "annotations": {HOLD_ANNOTATION: str(seconds)},
            },
        }
        thread = threading.Thread(
            target=self.kubectl,
            args=("create", f"--as={HOG}", "-f", "-"),
            kwargs={"input": json.dumps(held)},
            daemon=True,
        )
        thread.start()
        return thread


class _HoldingWebhook(BaseHTTPRequestHandler):
    """Allows every AdmissionReview, after the object's ``forescale.io/hold-seconds``."""

    def do_POST(self) -> None:
        review = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        annotations = review["request"]["object"]["metadata"].get("annotations", {})
        time.sleep(float(annotations.get(HOLD_ANNOTATION, 0)))
        answer = {
            "apiVersion": "admission.k8s.io/v1",
            "kind": "AdmissionReview",
            "response": {"uid": review["request"]["uid"], "allowed": True},
        }
        body = json.dumps(answer).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        """Quiet: the test reads the API server's answers, not the webhook's."""


@contextlib.contextmanager
def _holding_webhook(directory: Path, ca: tuple[Path, Path]) -> Iterator[int]:
    """An HTTPS webhook on a free loopback port, serving with a leaf of the sandbox CA."""
    cert, key = write_leaf(
        directory, "webhook", *ca, "127.0.0.1", ip_addresses=["127.0.0.1"], server=True
    )
    server = ThreadingHTTPServer(("127.0.0.1", 0), _HoldingWebhook)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


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
            objectSelector={"matchLabels": {"forescale.io/hold": "true"}},
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
    ``Throttle.hold`` then throttles it."""
    whoami = ("auth", "whoami", "-o", "jsonpath={.status.userInfo.username}")
    answer = kubectl.as_operator(*whoami)
    assert answer.returncode == 0 and answer.stdout, answer.stderr
    user = answer.stdout
    ca = (Path(cluster.extras["ca_cert"]), Path(cluster.extras["ca_key"]))
    with _holding_webhook(cluster.workdir / f"webhook-{namespace}", ca) as port:
        ca_bundle = base64.b64encode(ca[0].read_bytes()).decode()
        manifests = yaml.safe_dump_all(_manifests(namespace, user, port, ca_bundle))
        kubectl.ok("apply", "-f", "-", input=manifests)
        try:
            uid = kubectl.ok(
                "get", "flowschema", f"throttle-{namespace}", "-o", "jsonpath={.metadata.uid}"
            ).strip()
            yield Throttle(kubectl, namespace, uid)
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
