"""A small Dockerfile reader for tests that ask what an image is built from and runs as.

Parses instructions (comments dropped, ``\\`` continuations joined, ``ARG`` defaults
substituted into ``FROM``). Linting is the real hadolint's (``test_hadolint.py``).
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


def final_user(instructions: list[Instruction]) -> str | None:
    """The USER in force in the final stage."""
    users = [ins.value for ins in final_stage(instructions) if ins.keyword == "USER"]
    return users[-1] if users else None
