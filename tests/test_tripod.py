"""The TRIPOD+AI checklist: the YAML covers the published items, points at real pages and renders the committed page."""

from __future__ import annotations

import copy
import shutil
from pathlib import Path

import pytest
import yaml

from helpers.report import tripod

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def raw() -> dict:
    """The checklist YAML as parsed, before validation."""
    return yaml.safe_load((ROOT / tripod.YAML_PATH).read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def items() -> list[tripod.Item]:
    """The validated checklist items."""
    return tripod.load_checklist(ROOT / tripod.YAML_PATH)


def test_committed_page_is_the_rendered_yaml(items):
    committed = (ROOT / tripod.PAGE_PATH).read_text(encoding="utf-8")
    assert tripod.render(items) == committed, f"{tripod.PAGE_PATH} is stale: regenerate it with `{tripod.REGENERATE}`"


def test_every_published_item_appears_once_in_order(items):
    assert [item.id for item in items] == list(tripod.PUBLISHED_IDS)
    assert len(items) == 52
    assert sorted({item.main for item in items}) == list(range(1, 28))
    page = (ROOT / tripod.PAGE_PATH).read_text(encoding="utf-8")
    assert all(f"\n| {item.id} | " in page for item in items)
    assert [line[3:] for line in page.splitlines() if line.startswith("## ")] == list(tripod.SECTIONS)


def test_sections_and_statuses_follow_the_checklist(items):
    by_id = {item.id: item for item in items}
    assert by_id["7"].section == "Methods" and by_id["18f"].section == "Open science"
    assert by_id["19"].section == "Patient and public involvement" and by_id["27c"].section == "Discussion"
    assert by_id["17"].status == "not applicable" and not by_id["17"].where  # no human participants in silico
    assert all(item.where for item in items if item.status in ("addressed", "partly"))


def test_every_where_target_is_a_page_in_the_toc(items):
    pages = tripod.toc_pages(ROOT / tripod.TOC_PATH)
    assert "book/tripod_ai" in pages and "book/intro" in pages
    tripod.check_targets(items, pages)


def test_toc_pages_reads_root_and_nested_files(tmp_path):
    toc = tmp_path / "_toc.yml"
    toc.write_text(
        "format: jb-book\nroot: book/intro\nparts:\n  - caption: A\n    chapters:\n"
        "      - file: book/a\n        sections:\n          - file: book/b\n",
        encoding="utf-8",
    )
    assert tripod.toc_pages(toc) == {"book/intro", "book/a", "book/b"}


def _broken(raw: dict, change: str) -> dict:
    """A copy of the checklist with one defect."""
    data = copy.deepcopy(raw)
    entries = data["items"]
    if change == "status":
        entries[0]["status"] = "done"
    elif change == "field":
        del entries[1]["note"]
    elif change == "duplicate":
        entries[3]["id"] = entries[2]["id"]
    elif change == "section":
        entries[5]["section"] = "Results"
    elif change == "where":
        entries[0]["where"] = []
    elif change == "order":
        entries[0], entries[1] = entries[1], entries[0]
    return data


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ("status", "item 1: unknown status 'done'"),
        ("field", "item 2: missing field 'note'"),
        ("duplicate", "item 3a: duplicate id"),
        ("section", "item 4: section must be 'Introduction', not 'Results'"),
        ("where", "item 1: status 'addressed' needs at least one 'where' page"),
        ("order", "items must follow the published order"),
    ],
)
def test_validator_rejects_a_broken_checklist(raw, tmp_path, change, message):
    path = tmp_path / "tripod_ai.yaml"
    path.write_text(yaml.safe_dump(_broken(raw, change), sort_keys=False), encoding="utf-8")
    with pytest.raises(tripod.ChecklistError, match=message):
        tripod.load_checklist(path)


def test_validator_names_a_missing_item_and_an_invented_one(raw):
    data = copy.deepcopy(raw)
    data["items"][-1]["id"] = "28"
    with pytest.raises(tripod.ChecklistError) as error:
        tripod.parse_checklist(data)
    assert str(error.value).splitlines() == ["item 28: not a TRIPOD+AI item", "item 27c: missing"]


def test_a_target_outside_the_toc_is_named(items):
    with pytest.raises(tripod.ChecklistError) as error:
        tripod.check_targets(items[:1], {"book/running"})
    assert str(error.value) == "item 1: where target 'book/intro' is not a page in _toc.yml"


def test_row_escapes_pipes_and_links_every_page():
    item = tripod.Item(
        id="7",
        section="Methods",
        topic="Data preparation",
        text="Checks  |  pre-processing.",
        status="partly",
        where=("book/intro", "book/notebooks/05_rsf"),
        note="A note\nover lines.",
    )
    assert tripod._row(item) == (
        "| 7 | **Data preparation.** Checks \\| pre-processing. | partly | "
        "A note over lines. See {doc}`/book/intro`, {doc}`/book/notebooks/05_rsf`. |"
    )


def test_main_writes_the_page_and_check_flags_it_stale(items, tmp_path, capsys):
    (tmp_path / "book").mkdir()
    shutil.copy(ROOT / tripod.YAML_PATH, tmp_path / tripod.YAML_PATH)
    pages = sorted({target for item in items for target in item.where})
    toc = {"root": "book/intro", "chapters": [{"file": page} for page in pages]}
    (tmp_path / tripod.TOC_PATH).write_text(yaml.safe_dump(toc), encoding="utf-8")
    assert tripod.main(["--check", "--root", str(tmp_path)]) == 1
    assert tripod.REGENERATE in capsys.readouterr().err
    assert tripod.main(["--root", str(tmp_path)]) == 0
    assert (tmp_path / tripod.PAGE_PATH).read_text(encoding="utf-8") == tripod.render(items)
    assert tripod.main(["--check", "--root", str(tmp_path)]) == 0
    (tmp_path / tripod.TOC_PATH).write_text("root: book/intro\n", encoding="utf-8")
    assert tripod.main(["--check", "--root", str(tmp_path)]) == 2
    assert "is not a page in _toc.yml" in capsys.readouterr().err
