"""A small Dockerfile reader and a handful of hadolint's rules, cheap enough for unit tests.

Parses instructions (comments dropped, ``\\`` continuations joined, ``ARG`` defaults
substituted into ``FROM``) and checks rules named after hadolint's codes.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Instruction:
    """One Dockerfile instruction: keyword (upper case), its text, and its first line."""

    keyword: str
    value: str
    line: int


def parse(path: Path) -> list[Instruction]:
    """The instructions of a Dockerfile, with line continuations joined."""
    instructions: list[Instruction] = []
    pending: list[str] = []
    start = 0
    for number, raw in enumerate(path.read_text().splitlines(), start=1):
        stripped = raw.strip()
        if not pending and (not stripped or stripped.startswith("#")):
            continue
        if pending and stripped.startswith("#"):
            continue  # comment lines inside a continued instruction
        if not pending:
            start = number
        if stripped.endswith("\\"):
            pending.append(stripped[:-1].strip())
            continue
        pending.append(stripped)
        text = " ".join(part for part in pending if part)
        keyword, _, value = text.partition(" ")
        instructions.append(Instruction(keyword.upper(), value.strip(), start))
        pending = []
    if pending:
        raise ValueError(f"{path}: dangling line continuation")
    return instructions


def build_args(instructions: list[Instruction]) -> dict[str, str]:
    """Default values of ``ARG NAME=value`` instructions."""
    args: dict[str, str] = {}
    for ins in instructions:
        if ins.keyword == "ARG" and "=" in ins.value:
            name, _, default = ins.value.partition("=")
            args[name.strip()] = default.strip().strip('"')
    return args


def stages(instructions: list[Instruction]) -> list[tuple[str, str | None]]:
    """``(image, stage name)`` of each FROM, with ARG defaults substituted."""
    args = build_args(instructions)
    result: list[tuple[str, str | None]] = []
    for ins in instructions:
        if ins.keyword != "FROM":
            continue
        words = [w for w in ins.value.split() if not w.startswith("--")]
        image = re.sub(r"\$\{?(\w+)\}?", lambda m: args.get(m.group(1), m.group(0)), words[0])
        name = words[2] if len(words) >= 3 and words[1].upper() == "AS" else None
        result.append((image, name))
    return result


def exec_form(value: str) -> list[str] | None:
    """The JSON (exec) form of CMD/ENTRYPOINT, or None for the shell form."""
    try:
        parsed = json.loads(value)
    except json.JSONDecodeError:
        return None
    return parsed if isinstance(parsed, list) and all(isinstance(x, str) for x in parsed) else None


def final_stage(instructions: list[Instruction]) -> list[Instruction]:
    """Instructions from the last FROM on."""
    last = max(i for i, ins in enumerate(instructions) if ins.keyword == "FROM")
    return instructions[last:]


def violations(instructions: list[Instruction]) -> list[str]:
    """hadolint-style findings (code, line, text); empty when the file is clean."""
    found: list[str] = []
    names = {name for _, name in stages(instructions) if name}
    for image, _ in stages(instructions):
        if image in names:
            continue
        if ":" not in image.split("/")[-1] and "@" not in image:
            found.append(f"DL3006 untagged base image {image}")
        elif image.endswith(":latest"):
            found.append(f"DL3007 base image uses latest: {image}")
    for ins in instructions:
        where = f"line {ins.line}"
        if ins.keyword == "RUN":
            if re.search(r"(^|&&|;)\s*cd\s", ins.value):
                found.append(f"DL3003 use WORKDIR instead of cd ({where})")
            if re.search(r"\bsudo\b", ins.value):
                found.append(f"DL3004 sudo ({where})")
            if "apt-get install" in ins.value:
                if "--no-install-recommends" not in ins.value:
                    found.append(
                        f"DL3015 apt-get install without --no-install-recommends ({where})"
                    )
                if "rm -rf /var/lib/apt/lists" not in ins.value:
                    found.append(f"DL3009 apt lists left in the layer ({where})")
                if re.search(r"apt-get install[^&]*\s-y\b|-y\s", ins.value) is None:
                    found.append(f"DL3014 apt-get install without -y ({where})")
            if "apt-get upgrade" in ins.value or "apt-get dist-upgrade" in ins.value:
                found.append(f"DL3005 apt-get upgrade ({where})")
            for command in re.findall(r"pip3? install[^&;]*", ins.value):
                if "--no-cache-dir" not in command:
                    found.append(f"DL3042 pip install without --no-cache-dir ({where})")
        if ins.keyword == "ADD" and not re.search(r"https?://|\.tar", ins.value):
            found.append(f"DL3020 use COPY for local files ({where})")
        if ins.keyword in {"CMD", "ENTRYPOINT"} and exec_form(ins.value) is None:
            found.append(f"DL3025 {ins.keyword} in shell form ({where})")
        if ins.keyword == "WORKDIR" and not ins.value.startswith(("/", "$")):
            found.append(f"DL3000 relative WORKDIR ({where})")
        if ins.keyword == "COPY" and "--from=" in ins.value:
            source = re.search(r"--from=(\S+)", ins.value)
            if source and source.group(1) not in names and not source.group(1).isdigit():
                found.append(f"DL3022 COPY --from an unknown stage ({where})")
        if ins.keyword == "MAINTAINER":
            found.append(f"DL4000 MAINTAINER is deprecated ({where})")
    keywords = [ins.keyword for ins in final_stage(instructions)]
    if keywords.count("ENTRYPOINT") > 1:
        found.append("DL4004 several ENTRYPOINT instructions")
    if keywords.count("CMD") > 1:
        found.append("DL4003 several CMD instructions")
    return found


def final_user(instructions: list[Instruction]) -> str | None:
    """The USER in force in the final stage."""
    users = [ins.value for ins in final_stage(instructions) if ins.keyword == "USER"]
    return users[-1] if users else None
