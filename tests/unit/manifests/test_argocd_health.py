"""The Argo CD health check, run in Argo CD's own Lua VM and in two other Lua 5.1s.

Argo CD runs a custom health script in gopher-lua with only the base, table and package
libraries (no ``string``, ``math`` or ``os`` global) unless argocd-cm turns on
``useOpenLibs``, and shows Unknown for a status outside its health codes;
``hack/argocd-lua`` is that VM, built by ``hack/build-binaries.sh``. lupa and a system
interpreter open every library, so a script passing there alone could still fail in Argo
CD. Objects are built with forescale's own condition helpers, so the check is exercised on
the status shapes the operator writes.
"""

from __future__ import annotations

import json
import re
import shutil
import string
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from forescale.assessment.conditions import ConditionUpdate, initial_conditions, merge_conditions
from forescale.sandbox import binaries, upstream
from tests.unit.manifests.manifest_support import MANIFESTS, REPO, load

HEALTH_LUA = MANIFESTS / "argocd" / "health.lua"
ARGOCD_LUA = REPO / "hack" / "argocd-lua"
HEALTH_KEY = "resource.customizations.health.forescale.io_LLMDeployment"
OPEN_LIBS_KEY = "resource.customizations.useOpenLibs.forescale.io_LLMDeployment"
NOW = "2026-01-01T00:00:00Z"


LUA_BINARIES = ("lua5.1", "luajit", "lua", "lua5.4")
"""Interpreters to fall back on without lupa, closest to Argo CD's Lua 5.1 first."""

HealthCheck = Callable[[dict[str, Any]], tuple[str, str]]


_SAFE = frozenset(string.ascii_letters + string.digits + " -_.:/")


def _lua_literal(value: Any) -> str:
    """A Python JSON-like value as a Lua table constructor (None keys are left out)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        body = "".join(chr(b) if chr(b) in _SAFE else f"\\{b:03d}" for b in value.encode())
        return f'"{body}"'
    if isinstance(value, list):
        return "{" + ", ".join(_lua_literal(v) for v in value) + "}"
    if isinstance(value, dict):
        items = [
            f"[{_lua_literal(k)}] = {_lua_literal(v)}" for k, v in value.items() if v is not None
        ]
        return "{" + ", ".join(items) + "}"
    raise TypeError(f"no Lua literal for {value!r}")


def _with_lupa() -> HealthCheck | None:
    try:
        from lupa import lua51  # noqa: PLC0415 - optional engine
    except ImportError:
        return None
    runtime = lua51.LuaRuntime(unpack_returned_tuples=True)
    check = runtime.eval(f"function(obj)\n{HEALTH_LUA.read_text()}\nend")

    def run(obj: dict[str, Any]) -> tuple[str, str]:
        result = check(runtime.table_from(obj, recursive=True))
        return str(result["status"]), str(result["message"])

    return run


def _with_binary() -> HealthCheck | None:
    binary = next((found for name in LUA_BINARIES if (found := shutil.which(name))), None)
    if binary is None:
        return None

    def run(obj: dict[str, Any]) -> tuple[str, str]:
        program = (
            f"local check = function(obj)\n{HEALTH_LUA.read_text()}\nend\n"
            f"local h = check({_lua_literal(obj)})\n"
            'io.write(h.status, "\\n", h.message)\n'
        )
        result = subprocess.run(
            [binary, "-"], input=program, capture_output=True, text=True, timeout=30, check=False
        )
        assert result.returncode == 0, result.stderr
        status, _, message = result.stdout.partition("\n")
        return status, message

    return run


def _open_libs() -> bool:
    """Whether the shipped argocd-cm turns the standard libraries on for the script."""
    (generator,) = load(MANIFESTS / "argocd" / "kustomization.yaml")["configMapGenerator"]
    literals = dict(item.split("=", 1) for item in generator.get("literals", []))
    return literals.get(OPEN_LIBS_KEY, "false").strip().lower() == "true"


def run_in_argocd(script: str, obj: dict[str, Any], *, open_libs: bool) -> dict[str, str]:
    """One object through Argo CD's VM: ``{"status", "message"}`` or ``{"error"}``."""
    binary = binaries.find("argocd-lua")  # fails naming `hack/build-binaries.sh argocd-lua`
    command = [str(binary), *(["-open-libs"] if open_libs else []), script]
    result = subprocess.run(
        command,
        input=json.dumps(obj) + "\n",
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    answer: dict[str, str] = json.loads(result.stdout)
    return answer


def _with_argocd() -> HealthCheck | None:
    open_libs = _open_libs()

    def run(obj: dict[str, Any]) -> tuple[str, str]:
        answer = run_in_argocd(str(HEALTH_LUA), obj, open_libs=open_libs)
        assert "error" not in answer, f"Argo CD would show an error: {answer['error']}"
        return answer["status"], answer.get("message", "")

    return run


ENGINES = {"argocd": _with_argocd, "lupa": _with_lupa, "lua-binary": _with_binary}
# Argo CD's VM (hack/argocd-lua) and lupa (a dev dependency) always run, and fail when
# missing; a system interpreter runs too where one is installed.
RUNTIMES = ["argocd", "lupa", *(["lua-binary"] if _with_binary() is not None else [])]


@pytest.fixture(scope="module", params=RUNTIMES)
def health(request: pytest.FixtureRequest) -> HealthCheck:
    """health.lua as Argo CD runs it (``obj`` bound, the returned table read back), in
    Argo CD's VM, on lupa's Lua 5.1 and on a system interpreter where one is installed."""
    check = ENGINES[request.param]()
    if check is None:
        pytest.fail(
            f"Lua runtime {request.param} unavailable: install the dev dependencies"
            " (`make install`, which brings `lupa`)"
        )
    return check


def llmd(generation: int = 1, status: dict[str, Any] | None = None) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "apiVersion": "forescale.io/v1alpha1",
        "kind": "LLMDeployment",
        "metadata": {"name": "llama", "namespace": "ml", "generation": generation},
        "spec": {"model": {"name": "m"}},
    }
    if status is not None:
        obj["status"] = status
    return obj


def conditions(*updates: ConditionUpdate, generation: int = 1) -> list[dict[str, Any]]:
    return merge_conditions(initial_conditions(NOW, generation), list(updates), NOW, generation)


READY = ConditionUpdate("Ready", "True", "Available", "2/2 replicas Ready")
STABLE = ConditionUpdate("Progressing", "False", "Stable", "All 2 replicas updated and Ready")
FINE = ConditionUpdate("Degraded", "False", "AsExpected", "No problem detected")


@pytest.mark.parametrize(
    ("script", "expected"),
    [
        ('return {status = string.format("%s", "Healthy")}', "error"),
        ('return {status = ("healthy"):upper()}', "error"),
        ("return {status = tostring(math.floor(obj.spec.replicas))}", "error"),
        ('return {status = "Healthy", message = tostring(os.time())}', "error"),
        (
            'local t = require("os").time()\nreturn {status = "Healthy", message = t > 0 and "y"}',
            "Healthy",
        ),
        ('return {status = "Fine"}', "Unknown"),
        ('return {status = "Healthy", message = table.concat({"a", "b"}, ",")}', "Healthy"),
    ],
)
def test_argo_cds_vm_offers_only_what_argo_cd_does(
    tmp_path: Path, script: str, expected: str
) -> None:
    """The VM the check is judged in is as strict as Argo CD's: no string, math or os
    global, `require("os")` for time, and a status outside the health codes shows Unknown.
    (lupa and a system Lua would run every script here.)"""
    path = tmp_path / "health.lua"
    path.write_text(script)
    answer = run_in_argocd(str(path), {"spec": {"replicas": 2}}, open_libs=False)
    assert answer.get("status", "error") == expected, answer
    if expected == "Unknown":
        assert answer["message"] == "Lua returned an invalid health status"


def _block(source: str, start: str) -> str:
    """The text of a Go declaration from ``start`` to its closing brace at column 0."""
    begin = source.index(start)
    return source[begin : source.index("\n}", begin)]


def test_the_vm_is_the_pinned_argo_cd_releases() -> None:
    """hack/argocd-lua answers to the Argo CD release pinned in hack/versions.env, read from
    its published module: the same gopher-lua, the same libraries opened (and the rest
    only with useOpenLibs), os through require, the same globals and health codes. A new
    Argo CD that changes any of them fails here until the VM follows."""
    ours = (ARGOCD_LUA / "main.go").read_text()
    go_mod = upstream.read_text(upstream.ARGO_CD, "go.mod")
    gopher = re.search(r"github\.com/yuin/gopher-lua v([\d.]+)", go_mod)
    assert gopher is not None, "Argo CD no longer embeds gopher-lua"
    pinned = binaries.parse_versions_env(binaries.versions_file().read_text())
    assert gopher.group(1) == pinned["GOPHER_LUA_VERSION"]
    assert f"github.com/yuin/gopher-lua v{gopher.group(1)}" in (ARGOCD_LUA / "go.mod").read_text()

    lua_go = upstream.read_text(upstream.ARGO_CD, "util/lua/lua.go")
    run = _block(lua_go, "func (vm VM) runLuaWithResourceActionParameters(")
    assert "SkipOpenLibs: !vm.UseOpenLibs" in run
    assert "SkipOpenLibs: !openLibs" in ours
    theirs = re.findall(r"\{lua\.(\w+LibName), ([\w.]+)\}", run)
    assert theirs == [
        ("LoadLibName", "lua.OpenPackage"),
        ("BaseLibName", "lua.OpenBase"),
        ("TabLibName", "lua.OpenTable"),
        ("OsLibName", "OpenSafeOs"),
    ]
    assert re.findall(r"\{lua\.(\w+LibName), lua\.(\w+)\}", ours) == [
        (name, opener.removeprefix("lua.")) for name, opener in theirs[:3]
    ]
    assert "l.PreloadModule(lua.OsLibName, SafeOsLoader)" in run
    assert "L.PreloadModule(lua.OsLibName," in ours
    assert re.findall(r'SetGlobal\("(\w+)"', run) == ["actionParams", "obj"]
    assert re.findall(r'SetGlobal\("(\w+)"', ours) == ["actionParams", "obj"]

    safe_os = upstream.read_text(upstream.ARGO_CD, "util/lua/oslib_safe.go")
    their_os = set(re.findall(r'"(\w+)":\s*os\w+', _block(safe_os, "var osFuncs")))
    our_os = set(re.findall(r'"(\w+)":\s*os\w+', ours))
    assert our_os and our_os <= their_os, (our_os, their_os)

    valid = _block(lua_go, "func isValidHealthStatusCode(")
    codes = set(re.findall(r"health\.HealthStatus(\w+)[,:]", valid))
    assert codes == set(re.findall(r'"(\w+)": true', _block(ours, "var healthCodes")))
    assert "Lua returned an invalid health status" in lua_go


def test_argocd_cm_carries_the_script_under_argo_cds_key() -> None:
    kustomization = load(MANIFESTS / "argocd" / "kustomization.yaml")
    (generator,) = kustomization["configMapGenerator"]
    assert generator["name"] == "argocd-cm"
    assert generator["files"] == [f"{HEALTH_KEY}={HEALTH_LUA.name}"]
    assert generator["options"]["disableNameSuffixHash"] is True


def test_no_status_yet_is_progressing(health: HealthCheck) -> None:
    status, message = health(llmd())
    assert status == "Progressing"
    assert "status" in message


def test_ready_is_healthy(health: HealthCheck) -> None:
    obj = llmd(status={"observedGeneration": 1, "conditions": conditions(READY, STABLE, FINE)})
    assert health(obj) == ("Healthy", "Available: 2/2 replicas Ready")


def test_degraded_wins_over_ready(health: HealthCheck) -> None:
    degraded = ConditionUpdate("Degraded", "True", "InsufficientGPU", "1 pod Pending: 0/2 GPUs")
    obj = llmd(status={"observedGeneration": 1, "conditions": conditions(READY, degraded)})
    assert health(obj) == ("Degraded", "InsufficientGPU: 1 pod Pending: 0/2 GPUs")


def test_rolling_out_is_progressing(health: HealthCheck) -> None:
    rolling = ConditionUpdate("Progressing", "True", "RollingUpdate", "1/2 replicas updated")
    not_ready = ConditionUpdate("Ready", "False", "RollingUpdate", "1/2 replicas updated")
    obj = llmd(status={"observedGeneration": 1, "conditions": conditions(not_ready, rolling)})
    assert health(obj) == ("Progressing", "RollingUpdate: 1/2 replicas updated")


def test_unobserved_generation_is_progressing_even_when_ready(health: HealthCheck) -> None:
    obj = llmd(
        generation=3,
        status={"observedGeneration": 2, "conditions": conditions(READY, STABLE, FINE)},
    )
    status, message = health(obj)
    assert status == "Progressing"
    assert "generation 3" in message
    assert "describes 2" in message


def test_status_without_observed_generation_is_progressing(health: HealthCheck) -> None:
    obj = llmd(status={"conditions": conditions(READY)})
    status, message = health(obj)
    assert status == "Progressing"
    assert "describes none" in message


def test_first_assessment_with_unknown_conditions_is_progressing(health: HealthCheck) -> None:
    obj = llmd(status={"observedGeneration": 1, "conditions": initial_conditions(NOW, 1)})
    status, message = health(obj)
    assert status == "Progressing"
    assert "Reconciling" in message


def test_empty_conditions_are_progressing(health: HealthCheck) -> None:
    obj = llmd(status={"observedGeneration": 1, "conditions": []})
    assert health(obj) == ("Progressing", "Waiting for the Ready condition")


def test_applications_point_at_real_paths_and_sync_server_side() -> None:
    kustomization = load(MANIFESTS / "argocd" / "kustomization.yaml")
    apps = [load(MANIFESTS / "argocd" / name) for name in kustomization["resources"]]
    assert {app["kind"] for app in apps} == {"Application"}
    forescale = next(a for a in apps if a["metadata"]["name"] == "forescale")
    path = forescale["spec"]["source"]["path"]
    assert path == "manifests/default"
    assert (MANIFESTS.parent / path / "kustomization.yaml").is_file()
    for app in apps:
        sync = app["spec"]["syncPolicy"]
        assert sync["automated"] == {"prune": True, "selfHeal": True}
        assert "ServerSideApply=true" in sync["syncOptions"]
        assert app["spec"]["destination"]["server"] == "https://kubernetes.default.svc"
