"""The built book in a real browser: every page of the smoke book opened in headless
Chromium (tools/check_book.py) without JavaScript errors, broken images or broken internal
links, with a screenshot of each; and the checker itself catching each kind of problem on a
deliberately broken hand-made folder, so the first test cannot pass vacuously."""

from __future__ import annotations

import base64
import importlib.util
import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow

# A valid 1x1 PNG.
PIXEL = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)


@pytest.fixture(scope="module")
def check_book():
    """tools/check_book.py as a module (tools/ is not a package)."""
    spec = importlib.util.spec_from_file_location("check_book", ROOT / "tools" / "check_book.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is made
    spec.loader.exec_module(module)
    return module


def test_every_page_of_the_smoke_book_in_chromium(check_book, smoke_book):
    report = check_book.check_book(smoke_book)
    print(report.summary())
    notebooks = sorted(p.stem for p in (ROOT / "notebooks").glob("*.ipynb"))
    assert {f"book/notebooks/{name}.html" for name in notebooks} <= set(report.pages)
    assert {"index.html", "book/intro.html", "search.html"} <= set(report.pages)
    written = sum((smoke_book / page).read_text(encoding="utf-8").count("<img") for page in report.pages)
    assert written > 0 and report.images >= written  # every figure the HTML holds was looked at
    assert report.links > 10 * len(report.pages)  # the navigation alone links every page
    assert not report.problems, report.summary()  # no request leaves the book's folder: MathJax is served by it
    assert report.math_pages >= 2 and not report.unrendered_math  # the data and methods pages' equations
    shots = [Path(path) for path in report.screenshots]
    assert len(shots) == len(report.pages)
    assert all(path.is_relative_to(smoke_book / "_screenshots") and path.stat().st_size > 1000 for path in shots)


def _broken_book(folder: Path) -> Path:
    (folder / "_static").mkdir(parents=True)
    (folder / "_static" / "pixel.png").write_bytes(PIXEL)
    (folder / "_static" / "ignored.html").write_text("<script>throw new Error('not a page')</script>")
    (folder / "good.html").write_text(
        '<h1 id="top">Good</h1><img src="_static/pixel.png" alt="">'
        '<a href="bad.html#here">ok</a> <a href="#top">ok</a> <a href="./">ok</a> '
        '<a href="https://example.org/">external link, not followed</a>'
        '<img src="https://example.invalid/badge.png" alt=""><script src="https://example.invalid/lib.js"></script>'
        '<figure><figcaption><span class="caption-number">Fig. 1 </span>A numbered figure</figcaption></figure>'
        '<div style="overflow-x: auto; max-width: 600px"><table><tr><td style="min-width: 3000px">wide, scrolls</td>'
        "<td>0.723</td></tr></table></div>",
        encoding="utf-8",
    )
    (folder / "index.html").write_text('<p><a href="good.html">good</a></p>', encoding="utf-8")
    (folder / "bad.html").write_text(
        '<h1 id="here">Bad</h1><img src="missing.png" alt="">'
        '<a href="nowhere.html">broken file</a> <a href="good.html#nope">broken anchor</a>'
        '<span class="math notranslate nohighlight">\\(a^2\\)</span>'  # an equation no MathJax renders
        "<figure><figcaption>A figure without its number</figcaption></figure>"
        '<table><tr><th>too wide</th><td style="min-width: 3000px">spills</td><td>880.000000</td></tr></table>'
        "<script>throw new Error('deliberate failure')</script>",
        encoding="utf-8",
    )
    return folder


def test_the_checker_reports_each_kind_of_problem(check_book, tmp_path):
    html = _broken_book(tmp_path / "html")
    assert check_book.book_pages(html) == ["bad.html", "good.html", "index.html"]
    assert check_book.main([str(html), "--json", str(tmp_path / "report.json")]) == 1
    report = json.loads((tmp_path / "report.json").read_text(encoding="utf-8"))
    assert report["ok"] is False and report["pages"] == ["bad.html", "good.html", "index.html"]
    assert report["images"] == 3 and report["links"] == 6
    assert [p["detail"] for p in report["broken_images"]] == ["missing.png failed to load"]
    assert sorted(p["detail"] for p in report["broken_links"]) == [
        "good.html#nope: no id 'nope' in good.html",
        "nowhere.html: no file nowhere.html",
    ]
    errors = sorted((p["page"], p["detail"]) for p in report["js_errors"])
    assert len(errors) == 2 and errors[1] == ("bad.html", "uncaught Error: deliberate failure")
    assert errors[0][0] == "bad.html" and "404" in errors[0][1] and "/missing.png" in errors[0][1]
    assert {p["page"] for p in report["js_errors"] + report["broken_images"] + report["broken_links"]} == {"bad.html"}
    # requests to other hosts are aborted (the check is offline), listed, and each is a problem of its page
    assert report["external"] == ["https://example.invalid/badge.png", "https://example.invalid/lib.js"]
    assert [(p["page"], p["detail"]) for p in report["external_requests"]] == [
        ("good.html", "https://example.invalid/badge.png"),
        ("good.html", "https://example.invalid/lib.js"),
    ]
    assert report["math_pages"] == 1 and report["unrendered_math"] == [
        {"page": "bad.html", "kind": "math not rendered", "detail": "1 of 1 equations"}
    ]
    # a figure without its number, a table spilling over the margin, a raw float; the scrolling table is fine
    assert [(p["page"], p["kind"], p["detail"]) for p in report["layout"]] == [
        ("bad.html", "figure without number", "A figure without its number"),
        ("bad.html", "table spills over the page", f"{report['layout'][1]['detail'].split(' ')[0]} px wide: too wide"),
        ("bad.html", "unformatted number", "1 table cells such as 880.000000"),
    ]
    assert int(report["layout"][1]["detail"].split(" ")[0]) > 3000 and report["figures"] == 1
    shots = sorted(Path(p).relative_to(html).as_posix() for p in report["screenshots"])
    assert shots == ["_screenshots/bad.png", "_screenshots/good.png", "_screenshots/index.png"]
