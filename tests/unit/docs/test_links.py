"""Every relative link in the repository's Markdown leads somewhere.

The docs cross-reference each other by file and by heading (``policy.md#...``), and the
benchmark tables they cite are files a Makefile target names and `make bench-docs` copies.
A renamed table or a reworded heading breaks those links silently: GitHub shows a 404 or
lands at the top of the page, and the reader loses the measurement the sentence pointed
to. Anchors are checked the way GitHub makes them from headings (lowercase, punctuation
dropped, spaces to hyphens, ``-1``, ``-2`` for repeats).
"""

from __future__ import annotations

import re
from pathlib import Path

from tests.conftest import REPO

SKIPPED_DIRECTORIES = {".git", ".venv", "out", "node_modules"}
LINK = re.compile(r"\]\(([^)\s]+)\)")
HEADING = re.compile(r"#{1,6} (.+)")


def markdown_files(root: Path) -> list[Path]:
    return sorted(
        path
        for path in root.rglob("*.md")
        if not SKIPPED_DIRECTORIES.intersection(path.relative_to(root).parts)
    )


def anchors(document: Path) -> set[str]:
    """The anchors GitHub gives ``document``'s headings (fenced code is no heading)."""
    found: set[str] = set()
    seen: dict[str, int] = {}
    fenced = False
    for line in document.read_text(encoding="utf-8").splitlines():
        if line.startswith("```"):
            fenced = not fenced
            continue
        match = None if fenced else HEADING.match(line)
        if match is None:
            continue
        slug = re.sub(r"[^\w\- ]", "", match.group(1).strip().lower()).replace(" ", "-")
        repeats = seen.get(slug, 0)
        seen[slug] = repeats + 1
        found.add(slug if repeats == 0 else f"{slug}-{repeats}")
    return found


def broken_links(document: Path) -> list[str]:
    """The relative links in ``document`` whose file, or heading in a Markdown file, is
    missing (links with a scheme, ``https:`` or ``mailto:``, are not followed)."""
    broken = []
    for match in LINK.finditer(document.read_text(encoding="utf-8")):
        target = match.group(1)
        if re.match(r"[a-z][a-z0-9+.-]*:", target):
            continue
        path, _, anchor = target.partition("#")
        linked = document.parent / path if path else document
        if not linked.exists():
            broken.append(f"{target} (no such file)")
        elif anchor and linked.suffix == ".md" and anchor not in anchors(linked):
            broken.append(f"{target} (no heading with that anchor)")
    return broken


def test_the_repository_has_markdown_to_check() -> None:
    files = {path.relative_to(REPO).as_posix() for path in markdown_files(REPO)}
    assert {"README.md", "docs/policy.md", "docs/benchmarks.md"} <= files


def test_every_relative_link_resolves() -> None:
    broken = {
        path.relative_to(REPO).as_posix(): found
        for path in markdown_files(REPO)
        if (found := broken_links(path))
    }
    assert broken == {}


def test_a_missing_file_or_heading_is_reported(tmp_path: Path) -> None:
    (tmp_path / "table.md").write_text("# Season, day 7 (BurstGPT)\n\n## Day 7\n## Day 7\n")
    page = tmp_path / "page.md"
    page.write_text(
        "[table](table.md#season-day-7-burstgpt) [repeat](table.md#day-7-1)"
        " [here](#links) [web](https://example.org/x.md)\n"
        "# Links\n"
        "[old name](season-7.md) [reworded](table.md#season-7) [self](#gone)\n"
    )
    assert broken_links(page) == [
        "season-7.md (no such file)",
        "table.md#season-7 (no heading with that anchor)",
        "#gone (no heading with that anchor)",
    ]
