"""The operator image's Dockerfile: pinned base, the lock used, non-root, forescale run."""

from __future__ import annotations

import re
from pathlib import Path

from tests.unit.manifests import dockerfile_instructions
from tests.unit.manifests.dockerfile_instructions import Instruction
from tests.unit.manifests.manifest_support import MANIFESTS, REPO, load_all

DOCKERFILE = REPO / "Dockerfile"
INSTRUCTIONS = dockerfile_instructions.parse(DOCKERFILE)


def test_multi_stage_on_a_version_pinned_python_311_slim() -> None:
    stages = dockerfile_instructions.stages(INSTRUCTIONS)
    assert len(stages) >= 2, "build and runtime stages"
    for image, _ in stages:
        assert re.fullmatch(r"python:3\.11\.\d+-slim(-\w+)?(@sha256:[0-9a-f]{64})?", image), image
    copies = [i.value for i in INSTRUCTIONS if i.keyword == "COPY" and "--from=" in i.value]
    assert any("/opt/venv" in c for c in copies), "the runtime stage copies the built venv"


def test_dependencies_come_from_the_lock_file() -> None:
    runs = [i.value for i in INSTRUCTIONS if i.keyword == "RUN"]
    installs = [r for r in runs if "pip install" in r and "requirements.lock" in r]
    assert installs, "pip must install against requirements.lock"
    assert re.search(r"(--constraint|-c)\s+requirements\.lock", installs[0])
    copied = " ".join(i.value for i in INSTRUCTIONS if i.keyword == "COPY")
    assert "requirements.lock" in copied
    assert any("--no-deps" in r and "pip install" in r for r in runs), (
        "the package itself must not pull unpinned dependencies"
    )


def test_runs_as_a_numeric_non_root_user() -> None:
    user = dockerfile_instructions.final_user(INSTRUCTIONS)
    assert user is not None
    uid = user.split(":")[0]
    assert uid.isdigit() and int(uid) != 0, "numeric, so runAsNonRoot can be verified"
    pod_user = None
    for doc in load_all(MANIFESTS / "manager" / "deployment.yaml"):
        pod_user = doc["spec"]["template"]["spec"]["securityContext"]["runAsUser"]
    assert pod_user == int(uid), "the Deployment runs as the image's user"


def test_entrypoint_is_forescale_run() -> None:
    (entrypoint,) = [i for i in INSTRUCTIONS if i.keyword == "ENTRYPOINT"]
    assert dockerfile_instructions.exec_form(entrypoint.value) == ["forescale", "run"]


def test_dockerignore_keeps_the_context_small() -> None:
    ignore = (REPO / ".dockerignore").read_text().splitlines()
    assert "*" in ignore, "ignore everything by default"
    allowed = {line[1:] for line in ignore if line.startswith("!")}
    copied = set()
    for ins in INSTRUCTIONS:
        if ins.keyword == "COPY" and "--from=" not in ins.value:
            copied.update(ins.value.split()[:-1])
    assert copied <= allowed, f"COPY sources missing from .dockerignore: {copied - allowed}"


def test_parser_joins_continuations_and_skips_comments(tmp_path: Path) -> None:
    path = tmp_path / "Dockerfile"
    path.write_text("# c\nARG B=img:1\nFROM ${B} AS one\nRUN a \\\n  # inner\n  && b\n")
    parsed = dockerfile_instructions.parse(path)
    assert parsed[-1] == Instruction("RUN", "a && b", 4)
    assert dockerfile_instructions.stages(parsed) == [("img:1", "one")]
