"""The TRIPOD+AI checklist page: ``book/tripod_ai.yaml`` validated and rendered to ``book/tripod_ai.md``.

TRIPOD+AI (Collins et al., BMJ 2024;385:e078378) has 27 items, 52 with their sub-items. The
YAML holds, for each, where the book reports it (pages listed in ``_toc.yml``) or why it does
not apply; the page is generated from it so the two cannot drift apart. ``python -m
helpers.report.tripod`` writes the page, ``--check`` only reports whether it is stale.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from helpers.pipeline.files import repo_root, write_generated_page

YAML_PATH = Path("book/tripod_ai.yaml")
PAGE_PATH = Path("book/tripod_ai.md")
TOC_PATH = Path("_toc.yml")
REGENERATE = ".venv/bin/python -m helpers.report.tripod"

# The published (sub-)items, in checklist order, and the checklist section of each main item.
PUBLISHED_IDS = (
    "1",
    "2",
    "3a",
    "3b",
    "3c",
    "4",
    "5a",
    "5b",
    "6a",
    "6b",
    "6c",
    "7",
    "8a",
    "8b",
    "8c",
    "9a",
    "9b",
    "9c",
    "10",
    "11",
    "12a",
    "12b",
    "12c",
    "12d",
    "12e",
    "12f",
    "12g",
    "13",
    "14",
    "15",
    "16",
    "17",
    "18a",
    "18b",
    "18c",
    "18d",
    "18e",
    "18f",
    "19",
    "20a",
    "20b",
    "20c",
    "21",
    "22",
    "23a",
    "23b",
    "24",
    "25",
    "26",
    "27a",
    "27b",
    "27c",
)
SECTIONS = {
    "Title": range(1, 2),
    "Abstract": range(2, 3),
    "Introduction": range(3, 5),
    "Methods": range(5, 18),
    "Open science": range(18, 19),
    "Patient and public involvement": range(19, 20),
    "Results": range(20, 25),
    "Discussion": range(25, 28),
}
STATUSES = ("addressed", "partly", "not applicable", "not addressed")
FIELDS = ("id", "section", "topic", "text", "status", "where", "note")


class ChecklistError(ValueError):
    """The checklist YAML is invalid; the message lists every problem, one per line."""


@dataclass(frozen=True)
class Item:
    """One TRIPOD+AI (sub-)item and where the book reports it."""

    id: str
    section: str
    topic: str
    text: str
    status: str
    where: tuple[str, ...]
    note: str

    @property
    def main(self) -> int:
        """The main item number (``"12a"`` -> 12)."""
        return main_number(self.id)


def main_number(ident: str) -> int:
    """The main item number of a published (sub-)item id (``"12a"`` -> 12)."""
    return int(ident.rstrip("abcdefg"))


def section_of(ident: str) -> str:
    """The checklist section a published (sub-)item belongs to."""
    return next(name for name, numbers in SECTIONS.items() if main_number(ident) in numbers)


def _entry_problems(index: int, entry: Any) -> list[str]:
    """Problems of one YAML entry on its own: fields, types, status and section."""
    if not isinstance(entry, dict):
        return [f"entry {index + 1}: expected a mapping, got {type(entry).__name__}"]
    name = f"item {entry.get('id', f'#{index + 1}')}"
    problems = [f"{name}: missing field '{key}'" for key in FIELDS if key not in entry]
    problems += [f"{name}: unknown field '{key}'" for key in entry if key not in FIELDS]
    for key in ("section", "topic", "text", "note"):
        if key in entry and not (isinstance(entry[key], str) and entry[key].strip()):
            problems.append(f"{name}: '{key}' must be non-empty text")
    if "status" in entry and entry["status"] not in STATUSES:
        problems.append(f"{name}: unknown status {entry['status']!r} (expected one of {', '.join(STATUSES)})")
    where = entry.get("where")
    if "where" in entry and not (isinstance(where, list) and all(isinstance(t, str) and t for t in where)):
        problems.append(f"{name}: 'where' must be a list of pages, e.g. [book/notebooks/05_rsf]")
    elif entry.get("status") in ("addressed", "partly") and not where:
        problems.append(f"{name}: status {entry['status']!r} needs at least one 'where' page")
    ident = str(entry.get("id"))
    if ident in PUBLISHED_IDS and entry.get("section") != (expected := section_of(ident)):
        problems.append(f"{name}: section must be {expected!r}, not {entry.get('section')!r}")
    return problems


def parse_checklist(data: Any) -> list[Item]:
    """Validate the parsed YAML (``{"items": [...]}``) and return its items; ChecklistError lists every problem."""
    entries = data.get("items") if isinstance(data, dict) else None
    if not isinstance(entries, list):
        raise ChecklistError("(checklist): expected a top-level 'items' list")
    problems = [problem for index, entry in enumerate(entries) for problem in _entry_problems(index, entry)]
    ids = [str(entry["id"]) for entry in entries if isinstance(entry, dict) and "id" in entry]
    seen: set[str] = set()
    for ident in ids:
        if ident in seen:
            problems.append(f"item {ident}: duplicate id")
        seen.add(ident)
    problems += [f"item {ident}: not a TRIPOD+AI item" for ident in ids if ident not in PUBLISHED_IDS]
    problems += [f"item {ident}: missing" for ident in PUBLISHED_IDS if ident not in seen]
    if not problems and tuple(ids) != PUBLISHED_IDS:
        problems.append(f"(checklist): items must follow the published order {', '.join(PUBLISHED_IDS)}")
    if problems:
        raise ChecklistError("\n".join(problems))
    return [
        Item(
            id=str(e["id"]),
            section=e["section"],
            topic=e["topic"],
            text=e["text"],
            status=e["status"],
            where=tuple(e["where"]),
            note=e["note"],
        )
        for e in entries
    ]


def load_checklist(path: Path) -> list[Item]:
    """Read and validate the checklist YAML at ``path``."""
    return parse_checklist(yaml.safe_load(path.read_text(encoding="utf-8")))


def toc_pages(toc: Path) -> set[str]:
    """Every page (``root`` and each ``file``) listed in a Jupyter Book ``_toc.yml``."""
    pages: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            pages.update(str(node[key]) for key in ("root", "file") if key in node)
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(yaml.safe_load(toc.read_text(encoding="utf-8")))
    return pages


def check_targets(items: list[Item], pages: set[str]) -> None:
    """Raise ChecklistError naming every ``where`` target that is not a page of the table of contents."""
    problems = [
        f"item {item.id}: where target {target!r} is not a page in _toc.yml"
        for item in items
        for target in item.where
        if target not in pages
    ]
    if problems:
        raise ChecklistError("\n".join(problems))


def _cell(text: str) -> str:
    """Text safe inside a Markdown table cell: one line, pipes escaped."""
    return " ".join(text.split()).replace("|", "\\|")


def _row(item: Item) -> str:
    """One table row: the item, its short text, its status and the note with links to its pages."""
    links = ", ".join(f"{{doc}}`/{target}`" for target in item.where)
    where = f"{_cell(item.note)} See {links}." if links else _cell(item.note)
    return f"| {item.id} | **{_cell(item.topic)}.** {_cell(item.text)} | {item.status} | {where} |"


def render(items: list[Item]) -> str:
    """The MyST page: title, an introduction with the status counts, and one table per checklist section."""
    counts = {status: sum(item.status == status for item in items) for status in STATUSES}
    summary = ", ".join(f"{n} {status}" for status, n in counts.items())
    lines = [
        f"% Generated from {YAML_PATH.as_posix()} by `python -m helpers.report.tripod`: edit the YAML, not this page.",
        "",
        "# TRIPOD+AI checklist",
        "",
        "TRIPOD+AI {cite:p}`collins2024tripodai` is the reporting guideline for studies that develop or "
        f"evaluate a clinical prediction model, by regression or machine learning. Its {len(SECTIONS)} sections "
        f"hold {len({item.main for item in items})} items, {len(items)} counting their sub-items, shortened "
        "below; the statement gives the full wording. For each, the tables say where this book reports it or "
        "why it does not apply. A status describes the book as run on its default in-silico cohort; where a "
        f"real cohort needs more, the note says what its user must add. Status counts: {summary}. The page is "
        "generated from "
        f"`{YAML_PATH.as_posix()}` by `python -m helpers.report.tripod`, and a test fails when the two disagree.",
    ]
    for section in SECTIONS:
        lines += ["", f"## {section}", "", "| item | checklist item | status | in this book |", "|---|---|---|---|"]
        lines += [_row(item) for item in items if item.section == section]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point: write the page (``--check``: exit 1 if stale); exit 2 if the YAML is invalid."""
    parser = argparse.ArgumentParser(prog="python -m helpers.report.tripod", description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only check that the committed page is up to date")
    parser.add_argument("--root", type=Path, default=None, help="project root (default: the one holding _config.yml)")
    args = parser.parse_args(argv)
    root = args.root or repo_root()
    try:
        items = load_checklist(root / YAML_PATH)
        check_targets(items, toc_pages(root / TOC_PATH))
    except ChecklistError as error:
        print(f"{YAML_PATH.as_posix()} is invalid:\n{error}", file=sys.stderr)
        return 2
    return write_generated_page(root, PAGE_PATH, render(items), REGENERATE, args.check)


if __name__ == "__main__":
    raise SystemExit(main())
