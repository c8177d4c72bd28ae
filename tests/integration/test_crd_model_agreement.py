"""The real API server and the operator's model agree on what a valid LLMDeployment is.

The CRD is generated from the pydantic model, and the operator parses every object again
with it (a refusal becomes ``Degraded=True InvalidSpec``). The two must say the same: an
object the server admits but the model refuses is a 201 at ``kubectl apply`` followed by a
broken object; an object the model accepts but the server refuses is something the API
documents that no user can write. The unit tier checks the generated schema with a stand-in
(jsonschema and cel-python); only the real server shows what it really does (it prunes
nulls, decodes integral floats as integers, refuses floats only where a CEL rule reads the
field, limits integers to int64, ...).

Every candidate of :mod:`tests.integration.spec_candidates` (derived from the model's
schema, see there), and then random values from hypothesis (derandomized: the same ones
every run) on one to three fields of a sample, are created on the real API server with
``dryRun=All`` and ``fieldValidation=Strict`` (what ``kubectl apply`` sends), and judged:

(a) what the server admits, the model accepts, as the server returned it (defaulted);
    and where the model also accepts the object as written, both give the same spec
    (the CRD's defaults are the model's);
(b) every refusal names the field the candidate set (``spec.engine.maxNumSeqs``);
(c) what the model accepts as written, the server admits.

No case is exempt: there is no check in the model that needs cluster state (a missing
Secret or PVC is reported by the reconciler, not by the model), so every disagreement is
a bug in the model, the CRD generation or this test.

(a) judges the object the server returns, not the one sent, because the server
normalises two things the model, by design, refuses as written: a ``null`` (pruned, then
defaulted) and an integral float such as ``4.0`` in an integer field no CEL rule reads
(stored as ``4``; where a rule reads the field the server refuses it). The operator only
ever reads stored objects; offline, the model asks for integers written as integers.
"""

from __future__ import annotations

import http.client
import json
import re
import ssl
import time
import urllib.parse
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from forescale.api import identity, names
from forescale.api.spec import LLMDeploymentSpec
from forescale.sandbox.cluster import Cluster
from tests.integration.spec_candidates import (
    INT64_MAX,
    INT64_MIN,
    Case,
    Model,
    Node,
    all_cases,
    find,
    manifest_for,
    put,
    rule_fields,
    server_path,
)

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("llmd_crd")]

CREATE_PATH = (
    f"/apis/{identity.GROUP}/{identity.VERSION}/namespaces/default/{identity.PLURAL}"
    "?dryRun=All&fieldValidation=Strict"
)
"""Dry run: nothing is stored, so every case can use the same name in ``default``."""

TIME_BUDGET_SECONDS = 60.0


class DryRunClient:
    """Creates objects with ``dryRun=All`` over one kept-alive HTTPS connection.

    Why not :class:`forescale.sandbox.kubeapi.KubeApi`: it opens a TLS connection per
    request; a thousand cases on one connection take a few seconds instead of a minute."""

    def __init__(self, cluster: Cluster) -> None:
        access = cluster.require_access()
        url = urllib.parse.urlparse(access.server)
        if url.hostname != "127.0.0.1" or url.port is None:
            raise ValueError(f"the sandbox API server must be on 127.0.0.1: {access.server}")
        self._host, self._port = url.hostname, url.port
        self._token = access.admin_token
        self._context = ssl.create_default_context(cafile=str(access.ca_file))
        self._connection = self._connect()

    def _connect(self) -> http.client.HTTPSConnection:
        return http.client.HTTPSConnection(
            self._host, self._port, context=self._context, timeout=30
        )

    def create(self, manifest: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        """POST ``manifest``; the status code and the JSON answer (object or Status)."""
        body = json.dumps(manifest, allow_nan=False).encode()
        headers = {"Authorization": f"Bearer {self._token}", "Content-Type": "application/json"}
        for attempt in (1, 2):
            try:
                self._connection.request("POST", CREATE_PATH, body, headers)
                response = self._connection.getresponse()
                answer: dict[str, Any] = json.loads(response.read())
                return response.status, answer
            except (http.client.HTTPException, ConnectionError):
                # The server may close an idle kept-alive connection: reconnect once.
                self._connection.close()
                self._connection = self._connect()
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def close(self) -> None:
        """Close the connection."""
        self._connection.close()


@dataclass(frozen=True)
class Verdict:
    """What the server and the model said about one case."""

    case: Case
    status: int
    answer: dict[str, Any]
    model_error: str | None
    """The model's (and the name check's) refusal of the object as written, or None."""

    @property
    def admitted(self) -> bool:
        """The server created the object (201 for a dry-run create)."""
        return self.status == 201

    @property
    def message(self) -> str:
        """The server's refusal, as kubectl prints it."""
        return str(self.answer.get("message", ""))


def operator_refusal(manifest: dict[str, Any]) -> str | None:
    """Why the operator refuses ``manifest`` (None: it accepts it).

    The same two checks, in the same form, as the reconciler's pass: the spec through the
    model (``body.get("spec") or {}``) and the name through :func:`names.name_problem`."""
    try:
        LLMDeploymentSpec.model_validate(manifest.get("spec") or {})
    except ValidationError as error:
        return str(error)
    name = manifest.get("metadata", {}).get("name", "")
    return names.name_problem(name)


def model_dump(spec: Any) -> dict[str, Any]:
    """A spec as the operator sees it, on the wire (defaults filled in)."""
    dumped: dict[str, Any] = LLMDeploymentSpec.model_validate(spec).model_dump(
        mode="json", by_alias=True, exclude_none=True
    )
    return dumped


def judge(client: DryRunClient, case: Case) -> Verdict:
    """Send one case and ask the model."""
    status, answer = client.create(manifest_for(case.manifest))
    if status not in (201, 400, 422):
        pytest.fail(f"{case.label}: unexpected answer {status}: {answer}")
    return Verdict(case, status, answer, operator_refusal(case.manifest))


def admitted_but_refused(verdict: Verdict) -> str | None:
    """(a): the server admitted what the model refuses (as returned, defaulted)."""
    if not verdict.admitted:
        return None
    returned = verdict.answer.get("spec")
    try:
        seen = model_dump(returned)
    except ValidationError as error:
        return f"{verdict.case.label}\n    server: admitted\n    model: {_first_line(error)}"
    if verdict.model_error is None:
        written = model_dump(verdict.case.manifest.get("spec"))
        if written != seen:
            return (
                f"{verdict.case.label}\n    server defaulted it to {seen}\n"
                f"    the model to {written}"
            )
    return None


def _normalise(text: str) -> str:
    return re.sub(r"\[\d+\]", "", text)


def names_field(message: str, field: str) -> bool:
    """Whether ``message`` names ``field``: its whole path, or (a rule of the object
    refusing it) the path of its object, below ``spec``, and its own name as a word:
    "spec.model.source must set exactly one of pvc, huggingFace or uri" names
    ``spec.model.source.pvc``; a bare "spec: Invalid value" names nothing."""
    message, field = _normalise(message), _normalise(field)
    if field in message:
        return True
    parent, _, leaf = field.rpartition(".")
    return (
        "." in parent
        and parent in message
        and re.search(rf"\b{re.escape(leaf)}\b", message) is not None
    )


def refusal_without_field(verdict: Verdict) -> str | None:
    """(b): the server refused without naming any field the case set."""
    if verdict.admitted:
        return None
    if any(names_field(verdict.message, field) for field in verdict.case.fields):
        return None
    return (
        f"{verdict.case.label}\n    server: {verdict.message}\n"
        f"    names none of {verdict.case.fields}"
    )


def accepted_but_refused(verdict: Verdict) -> str | None:
    """(c): the model accepts, as written, what the server refused."""
    if verdict.admitted or verdict.model_error is not None:
        return None
    return f"{verdict.case.label}\n    server: {verdict.message}\n    model: accepted"


def _first_line(error: ValidationError) -> str:
    return " | ".join(str(error).splitlines()[:3])


def disagreements(verdict: Verdict) -> list[str]:
    """(a), (b) and (c) for one verdict."""
    checks = (admitted_but_refused, refusal_without_field, accepted_but_refused)
    return [problem for check in checks if (problem := check(verdict))]


@pytest.fixture(scope="module")
def client(sandbox_cluster: Cluster) -> Iterator[DryRunClient]:
    """One kept-alive connection for the module's requests."""
    dry_run = DryRunClient(sandbox_cluster)
    try:
        yield dry_run
    finally:
        dry_run.close()


@pytest.fixture(scope="module")
def verdicts(client: DryRunClient) -> list[Verdict]:
    """Every candidate, sent once, with the model's verdict."""
    cases = all_cases(names.MAX_NAME_LENGTH)
    started = time.monotonic()
    out = [judge(client, case) for case in cases]
    elapsed = time.monotonic() - started
    assert elapsed < TIME_BUDGET_SECONDS, f"{len(cases)} cases took {elapsed:.0f} s"
    return out


def _report(problems: list[str], verdicts: list[Verdict], what: str) -> str:
    shown = "\n".join(problems[:25])
    more = f"\n... and {len(problems) - 25} more" if len(problems) > 25 else ""
    return f"{len(problems)} of {len(verdicts)} cases: {what}:\n{shown}{more}"


def test_what_the_server_admits_the_model_accepts(verdicts: list[Verdict]) -> None:
    """(a), with the defaults: an admitted object never turns into InvalidSpec."""
    problems = [p for v in verdicts if (p := admitted_but_refused(v))]
    assert not problems, _report(problems, verdicts, "admitted by the server, refused by the model")


def test_every_refusal_names_the_field(verdicts: list[Verdict]) -> None:
    """(b): ``kubectl apply`` tells the user which field to fix."""
    problems = [p for v in verdicts if (p := refusal_without_field(v))]
    assert not problems, _report(problems, verdicts, "refused without naming the field")


def test_what_the_model_accepts_the_server_admits(verdicts: list[Verdict]) -> None:
    """(c): everything the model (the API's documentation) allows can be written."""
    problems = [p for v in verdicts if (p := accepted_but_refused(v))]
    assert not problems, _report(problems, verdicts, "accepted by the model, refused by the server")


def test_every_node_and_rule_is_probed_both_ways(verdicts: list[Verdict]) -> None:
    """The derivation reached every field and every CEL rule, with at least one candidate
    the server admitted and one it refused; otherwise the agreement above would be
    vacuous for that field (e.g. a base object that makes every value invalid)."""
    admitted: Counter[str] = Counter()
    refused: Counter[str] = Counter()
    for verdict in verdicts:
        (admitted if verdict.admitted else refused)[verdict.case.node] += 1
    probed = set(admitted) | set(refused)
    one_sided = sorted(n for n in probed if not admitted[n] or not refused[n])
    assert not one_sided, f"probed one way only: {one_sided}"
    missed = sorted({n.label for n in MODEL.nodes} - probed)
    assert not missed, f"schema nodes without a candidate: {missed}"
    rules = {
        f"rule:{server_path(node.path)}:{rule['rule']}"
        for node in MODEL.nodes
        if node.kind == "object"
        for rule in node.schema.get("x-kubernetes-validations", [])
        if rule_fields(node, rule["rule"])
    }
    assert len(rules) >= 10, sorted(rules)  # the rules spec.py has today
    assert rules <= probed, f"CEL rules without candidates: {sorted(rules - probed)}"


# ---------------------------------------------------------------------------------------
# Random values on the samples
# ---------------------------------------------------------------------------------------

MODEL = Model()
SCALARS = [n.path for n in MODEL.nodes if n.kind in ("integer", "string", "boolean")]

_JUNK = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.text(max_size=8)
    | st.floats(allow_nan=False, allow_infinity=False)  # JSON has neither
)


def values(node: Node) -> st.SearchStrategy[Any]:
    """Values for one scalar: mostly of its type and near its bounds, strings also drawn
    from the field's own pattern (the model checks it with Rust's regex engine, the
    server with Go's), and now and then anything at all."""
    schema = node.schema
    if node.kind == "integer":
        low = int(schema.get("minimum", INT64_MIN))
        high = int(schema.get("maximum", INT64_MAX))
        near = st.integers(low - 2, min(high, low + 64)) | st.integers(
            max(low, high - 64), high + 2
        )
        return near | _JUNK
    if node.kind == "boolean":
        return _JUNK
    if "enum" in schema:
        return st.sampled_from(schema["enum"]) | _JUNK
    limit = int(schema.get("maxLength", 64))
    texts = st.text(max_size=min(limit + 2, 300))
    if "pattern" in schema:
        texts = st.from_regex(schema["pattern"], fullmatch=True) | texts
    return texts | _JUNK


@settings(
    derandomize=True,
    database=None,
    deadline=None,
    max_examples=300,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(data=st.data())
def test_random_values_on_the_samples_agree(client: DryRunClient, data: st.DataObject) -> None:
    """Up to three fields of a sample changed at once, to values the derivation would not
    pick (random text, strings matching the field's pattern, integers near the bounds)."""
    first = data.draw(st.sampled_from(SCALARS), label="field")
    manifest, _ = MODEL.base(first)
    present = [path for path in SCALARS if find(manifest, path) is not None]
    more = data.draw(st.lists(st.sampled_from(present), max_size=2, unique=True), label="more")
    changed: list[str] = []
    for path in [first, *more]:
        where = find(manifest, path)
        if where is None:  # an earlier change removed its parent
            continue
        value = data.draw(values(MODEL.node(path)), label=server_path(where))
        put(manifest, where, value)
        changed.append(server_path(where))
    case = Case(f"random values at {changed}: {manifest['spec']}", manifest, tuple(changed), "")
    verdict = judge(client, case)
    event("admitted" if verdict.admitted else "refused")  # --hypothesis-show-statistics
    problems = disagreements(verdict)
    assert not problems, "\n".join(problems)
