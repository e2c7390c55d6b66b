"""Open every page of a built book in headless Chromium and check what a reader would see.

    .venv/bin/python tools/check_book.py _build/html [--screenshots DIR] [--no-screenshots]
                                                     [--chromium PATH] [--json REPORT.json]

For each HTML page (all ``*.html`` under the folder except ``_static/``, ``_sources/``,
``_screenshots/`` and dot-folders) it records

* JavaScript errors: uncaught exceptions (``pageerror``) and ``console.error`` messages,
  which include "Failed to load resource" for any local script, stylesheet or image that
  is missing;
* broken images: every ``<img>`` must have loaded (``naturalWidth > 0``);
* broken internal links: every ``<a href>`` to the book itself must point to a file that
  exists, and its ``#fragment``, if any, to an element id (or ``<a name>``) on that page;
* a screenshot (full page, 1280x800 viewport) under ``<html>/_screenshots/<page>.png``.

The pages are served by a local ``http.server`` on 127.0.0.1, as a web host would serve
them: under ``file://`` Chromium gives every page an opaque origin, which blocks
``fetch``/XHR and module scripts, and a link to a folder shows a directory listing instead
of its ``index.html``. Every other host is made unreachable (no DNS, no proxy), so the check
is deterministic and works offline. A request to another host (MathJax from a CDN, say) is a
problem: a hospital network without internet would not get it, so the book must serve
everything itself; it is listed under ``external`` (the console's "Failed to load resource"
for exactly that request is not counted again as a JavaScript error), and so is the one for
``/favicon.ico`` on a page that declares no icon (Chromium requests it by itself), which is
not a problem. On every page with an equation (Sphinx's ``.math`` elements) MathJax must have
rendered it (an ``mjx-container`` element per equation). Links to other hosts are not followed.

It also checks what a reader of a journal's supplement expects of figures and tables: every
figure with a caption carries its number ("Fig. 3"); every table either fits the text column
or scrolls sideways inside it (a container with ``overflow-x: auto``), never spilling over the
margin; and no table cell shows an unformatted float (six or more decimals, pandas' default: ``880.000000``).

Chromium is the system's (``chromium`` on PATH, or ``--chromium`` / ``$CHROMIUM``), driven
by Playwright with ``executable_path``; ``playwright install`` is never needed. Exit
status: 0 when no problem was found, 1 when some were, 2 when the check could not run.
"""

from __future__ import annotations

import argparse
import functools
import http.server
import json
import os
import shutil
import sys
import threading
import time
from dataclasses import asdict, dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urldefrag, urlsplit

VIEWPORT = {"width": 1280, "height": 800}
SKIPPED_DIRS = {"_static", "_sources", "_screenshots"}
CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
OFFLINE_ARGS = ["--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1", "--no-proxy-server"]

# In the page: make lazy images load now, wait for every image to settle (load or error,
# 10 s at most), then report each one. `complete && naturalWidth == 0` is a broken image.
_IMAGES_JS = """
async () => {
  const images = Array.from(document.images);
  for (const img of images) { if (img.loading === 'lazy') img.loading = 'eager'; }
  await Promise.all(images.map(img => img.complete ? null : new Promise(done => {
    img.addEventListener('load', done, {once: true});
    img.addEventListener('error', done, {once: true});
    setTimeout(done, 10000);
  })));
  return images.map(img => ({src: img.getAttribute('src') || '', url: img.currentSrc || img.src,
                             complete: img.complete, width: img.naturalWidth}));
}
"""
_LINKS_JS = """
() => Array.from(document.querySelectorAll('a[href]')).map(a => {
  const href = a.getAttribute('href');
  try { return {href: href, url: new URL(href, document.baseURI).href}; }  // SVG <a> too
  catch (error) { return {href: href, url: 'invalid:' + href}; }
})
"""
_ICON_JS = """
() => document.querySelector('link[rel~="icon"]') !== null
"""
_MATH_JS = """
() => [document.querySelectorAll('.math').length, document.querySelectorAll('.math mjx-container').length]
"""
_MATH_RENDERED_JS = """
() => document.querySelectorAll('.math mjx-container').length >= document.querySelectorAll('.math').length
"""
# Figures with a caption but no number; tables wider than the text column and not inside a
# container that scrolls sideways within it; table cells holding a raw float (6+ decimals, pandas' default).
_LAYOUT_JS = """
() => {
  const column = document.querySelector('main article') || document.querySelector('article')
    || document.querySelector('main') || document.body;
  const limit = column.getBoundingClientRect().right + 1;
  const unnumbered = Array.from(document.querySelectorAll('figure, div.figure'))
    .filter(f => f.querySelector('figcaption, .caption') && !f.querySelector('.caption-number'))
    .map(f => (f.querySelector('figcaption, .caption').textContent || '').trim().slice(0, 60));
  const scrolls = e => ['auto', 'scroll'].includes(getComputedStyle(e).overflowX);
  const spilling = Array.from(document.querySelectorAll('table')).filter(t => {
    if (t.getBoundingClientRect().right <= limit) return false;
    for (let e = t.parentElement; e && e !== document.body; e = e.parentElement) {
      if (scrolls(e)) return e.getBoundingClientRect().right > limit;
    }
    return true;
  }).map(t => `${Math.round(t.getBoundingClientRect().width)} px wide: ` +
               (t.querySelector('caption, th') || t).textContent.trim().slice(0, 40));
  const raw = Array.from(document.querySelectorAll('table td, table th'))
    .map(c => c.textContent.trim()).filter(text => /^[-+]?\\d+\\.\\d{6,}$/.test(text));
  return {unnumbered: unnumbered, spilling: spilling, raw: raw.slice(0, 5), raw_count: raw.length};
}
"""
_IDS_JS = """
() => Array.from(document.querySelectorAll('[id], a[name]')).map(e => e.id || e.getAttribute('name'))
"""


@dataclass
class Problem:
    page: str  # the page, relative to the HTML folder
    kind: str  # "js error" | "broken image" | "broken link" | "external request" | "math not rendered" |
    # "figure without number" | "table spills over the page" | "unformatted number"
    detail: str

    def __str__(self) -> str:
        return f"{self.page}: {self.kind}: {self.detail}"


@dataclass
class Report:
    html: str
    pages: list[str] = field(default_factory=list)
    images: int = 0  # <img> elements checked, over all pages
    links: int = 0  # internal <a href> checked, over all pages
    js_errors: list[Problem] = field(default_factory=list)
    broken_images: list[Problem] = field(default_factory=list)
    broken_links: list[Problem] = field(default_factory=list)
    external: list[str] = field(default_factory=list)  # requests to other hosts: each one a problem
    external_requests: list[Problem] = field(default_factory=list)
    math_pages: int = 0  # pages with an equation, over all pages
    unrendered_math: list[Problem] = field(default_factory=list)
    figures: int = 0  # captioned figures, over all pages
    layout: list[Problem] = field(default_factory=list)  # unnumbered figures, spilling tables, raw floats
    screenshots: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def problems(self) -> list[Problem]:
        return (
            self.js_errors
            + self.broken_images
            + self.broken_links
            + self.external_requests
            + self.unrendered_math
            + self.layout
        )

    @property
    def ok(self) -> bool:
        return bool(self.pages) and not self.problems

    def summary(self) -> str:
        lines = [
            f"[check_book] {self.html}: {len(self.pages)} pages, {self.images} images, "
            f"{self.links} internal links, {len(self.screenshots)} screenshots in {self.seconds:.1f} s",
            f"[check_book] {len(self.js_errors)} JS errors, {len(self.broken_images)} broken images, "
            f"{len(self.broken_links)} broken links, {len(self.external_requests)} requests to other hosts, "
            f"{len(self.unrendered_math)} of {self.math_pages} pages with equations not rendered, "
            f"{len(self.layout)} figure or table problems ({self.figures} numbered figures)",
        ]
        lines += [f"  {problem}" for problem in self.problems]
        if not self.pages:
            lines.append("  no HTML page found")
        return "\n".join(lines)

    def to_json(self) -> dict:
        data = asdict(self)
        data["ok"] = self.ok
        return data


def find_chromium(explicit: str | os.PathLike | None = None) -> str:
    """The Chromium executable: ``explicit``, ``$CHROMIUM``, or the first of CHROMIUM_NAMES on PATH."""
    candidates = [explicit, os.environ.get("CHROMIUM")] if explicit or os.environ.get("CHROMIUM") else CHROMIUM_NAMES
    for name in candidates:
        if name and (path := shutil.which(str(name))):
            return path
    raise FileNotFoundError(
        f"no Chromium found (tried {', '.join(str(c) for c in candidates if c)}); install it with "
        "`apt-get install chromium` or pass --chromium / set $CHROMIUM"
    )


def book_pages(html: Path) -> list[str]:
    """Every HTML page of the build, as POSIX paths relative to ``html``, sorted."""
    pages = []
    for path in html.rglob("*.html"):
        rel = path.relative_to(html)
        if not any(part in SKIPPED_DIRS or part.startswith(".") for part in rel.parts[:-1]):
            pages.append(rel.as_posix())
    return sorted(pages)


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # noqa: A002 - the base class's signature
        pass


class _Server:
    """``http.server`` on 127.0.0.1 (a free port) serving ``root`` from a daemon thread."""

    def __init__(self, root: Path):
        handler = functools.partial(_QuietHandler, directory=str(root))
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.base = f"http://127.0.0.1:{self.httpd.server_address[1]}/"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> "_Server":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join()


class _IdParser(HTMLParser):
    """Element ids and ``<a name>`` of a page that was not opened in the browser."""

    def __init__(self):
        super().__init__()
        self.ids: set[str] = set()

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if attrs.get("id"):
            self.ids.add(attrs["id"])
        if tag == "a" and attrs.get("name"):
            self.ids.add(attrs["name"])


def _static_ids(path: Path) -> set[str]:
    parser = _IdParser()
    parser.feed(path.read_text(encoding="utf-8", errors="replace"))
    return parser.ids


def _local_target(url: str, base: str, root: Path) -> tuple[Path, str] | None:
    """(file, fragment) for a URL on the local server, ``None`` for any other URL."""
    if not url.startswith(base):
        return None
    address, fragment = urldefrag(url)
    rel = unquote(urlsplit(address).path).lstrip("/")
    target = (root / rel).resolve()
    if rel == "" or rel.endswith("/") or target.is_dir():
        target = target / "index.html"
    return target, unquote(fragment)


def _evaluate(page, script: str):
    """``page.evaluate`` that survives a redirect (e.g. a meta refresh) finishing meanwhile."""
    try:
        return page.evaluate(script)
    except Exception as error:  # playwright's Error: "Execution context was destroyed"
        if "context was destroyed" not in str(error):
            raise
        page.wait_for_load_state("load")
        return page.evaluate(script)


@dataclass
class _Visit:
    """What one page showed in the browser: its errors, failed requests, images, links and element ids."""

    uncaught: list[str] = field(default_factory=list)
    console: list[tuple[str, str]] = field(default_factory=list)  # (message, where)
    failed: set[str] = field(default_factory=set)
    images: list[dict] = field(default_factory=list)
    links: list[dict] = field(default_factory=list)
    implicit: set[str] = field(default_factory=set)  # requests the browser made by itself (favicon)
    ids: tuple[Path, set[str]] | None = None
    math: tuple[int, int] = (0, 0)  # (equations, equations MathJax rendered)
    layout: dict = field(default_factory=dict)  # _LAYOUT_JS's findings
    figures: int = 0  # figures with a numbered caption


def _visit(context, name: str, server: _Server, root: Path, shots: Path | None, report: Report) -> _Visit:
    """Open one page, wait for it to settle, collect what it showed; save its screenshot."""
    page, seen = context.new_page(), _Visit()

    def on_console(message):
        if message.type == "error":
            seen.console.append((message.text, (message.location or {}).get("url", "")))

    page.on("console", on_console)
    page.on("pageerror", lambda error: seen.uncaught.append(f"uncaught {error.name or 'exception'}: {error.message}"))
    page.on("requestfailed", lambda request: seen.failed.add(request.url))
    page.goto(server.base + name, wait_until="load")
    try:
        page.wait_for_load_state("networkidle", timeout=5_000)
    except Exception:  # a page that keeps polling is not an error in itself
        pass
    seen.images, seen.links = _evaluate(page, _IMAGES_JS), _evaluate(page, _LINKS_JS)
    try:  # MathJax typesets after the load event
        page.wait_for_function(_MATH_RENDERED_JS, timeout=10_000)
    except Exception:  # not rendered in time: reported below from the counts
        pass
    equations, rendered = _evaluate(page, _MATH_JS)
    seen.layout = _evaluate(page, _LAYOUT_JS)
    seen.figures = int(_evaluate(page, "() => document.querySelectorAll('.caption-number').length"))
    seen.math = (int(equations), int(rendered))
    # Chromium asks for /favicon.ico by itself when a page declares no icon; a 404
    # for that request is the browser's guess failing, not a resource of the book.
    seen.implicit = set() if _evaluate(page, _ICON_JS) else {server.base + "favicon.ico"}
    final = _local_target(page.url, server.base, root)
    if final:
        seen.ids = (final[0], set(_evaluate(page, _IDS_JS)))
    if shots is not None:
        path = (shots / name).with_suffix(".png")
        path.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(path), full_page=True)
        report.screenshots.append(str(path))
    page.close()
    return seen


def _image_problems(name: str, seen: _Visit, base: str) -> list[Problem]:
    """The book's own images that did not load (width 0)."""
    problems = []
    for image in seen.images:
        local = image["url"].startswith(base) or image["url"].startswith("data:")
        if local and image["width"] == 0:
            state = "failed to load" if image["complete"] else "did not finish loading"
            problems.append(Problem(name, "broken image", f"{image['src'] or '(no src)'} {state}"))
    return problems


def _layout_problems(name: str, seen: _Visit) -> list[Problem]:
    """Captioned figures without a number, tables spilling over the text column, raw floats in table cells."""
    found = seen.layout
    problems = [Problem(name, "figure without number", caption) for caption in found["unnumbered"]]
    problems += [Problem(name, "table spills over the page", table) for table in found["spilling"]]
    if found["raw_count"]:
        shown = ", ".join(found["raw"])
        problems.append(Problem(name, "unformatted number", f"{found['raw_count']} table cells such as {shown}"))
    return problems


def _js_problems(name: str, seen: _Visit, offsite: set[str]) -> list[Problem]:
    """Uncaught exceptions and console errors, except failed loads of other hosts or of the implicit favicon."""
    problems = [Problem(name, "js error", text) for text in seen.uncaught]
    for text, where in seen.console:
        if text.startswith("Failed to load resource") and (where in offsite or where in seen.implicit):
            continue  # another host (an external request, reported as such), or the browser's own guess
        problems.append(Problem(name, "js error", f"console.error: {text}" + (f" ({where})" if where else "")))
    return problems


def _link_problems(
    links: list[tuple[str, str, str]], base: str, root: Path, ids: dict[Path, set[str]], report: Report
) -> list[Problem]:
    """Internal links to a missing file, or to an ``#anchor`` that no element of the target page has."""
    problems = []
    for name, href, url in links:
        target = _local_target(url, base, root)
        if target is None:
            continue  # another host, mailto:, javascript: ... not the book's own pages
        report.links += 1
        path, fragment = target
        shown = path.relative_to(root).as_posix() if path.is_relative_to(root) else str(path)
        if not path.is_file() or not path.is_relative_to(root):
            problems.append(Problem(name, "broken link", f"{href}: no file {shown}"))
        elif fragment and not fragment.startswith(":~:") and path.suffix == ".html":  # ":~:" is a text fragment
            if path not in ids:
                ids[path] = _static_ids(path)
            if fragment not in ids[path]:
                problems.append(Problem(name, "broken link", f"{href}: no id {fragment!r} in {shown}"))
    return problems


def check_book(
    html: str | os.PathLike,
    screenshots: str | os.PathLike | None = "",
    chromium: str | os.PathLike | None = None,
    timeout_ms: int = 30_000,
) -> Report:
    """Check every page of the built book in ``html``; see the module docstring.

    ``screenshots``: the folder for the screenshots (``""``: ``<html>/_screenshots``;
    ``None``: none taken).
    """
    from playwright.sync_api import sync_playwright

    start = time.perf_counter()
    root = Path(html).resolve()
    if not root.is_dir():
        raise FileNotFoundError(f"no built book at {root}")
    shots = None if screenshots is None else Path(screenshots or root / "_screenshots")
    report = Report(html=str(root), pages=book_pages(root))
    executable = find_chromium(chromium)
    links: list[tuple[str, str, str]] = []  # (page, href as written, resolved URL)
    ids: dict[Path, set[str]] = {}
    external: set[str] = set()

    with _Server(root) as server, sync_playwright() as playwright:
        # Every host name fails to resolve and no proxy is used: only 127.0.0.1 is reached.
        browser = playwright.chromium.launch(executable_path=executable, args=OFFLINE_ARGS)
        context = browser.new_context(viewport=VIEWPORT)
        context.set_default_timeout(timeout_ms)
        for name in report.pages:
            seen = _visit(context, name, server, root, shots, report)
            report.images += len(seen.images)
            report.broken_images += _image_problems(name, seen, server.base)
            links += [(name, link["href"], link["url"]) for link in seen.links]
            if seen.ids:
                ids[seen.ids[0]] = seen.ids[1]
            offsite = {url for url in seen.failed if not url.startswith(server.base)}
            external |= offsite
            report.external_requests += [Problem(name, "external request", url) for url in sorted(offsite)]
            report.js_errors += _js_problems(name, seen, offsite)
            report.figures += seen.figures
            report.layout += _layout_problems(name, seen)
            equations, rendered = seen.math
            report.math_pages += equations > 0
            if rendered < equations:
                report.unrendered_math.append(
                    Problem(name, "math not rendered", f"{equations - rendered} of {equations} equations")
                )
        browser.close()

    report.broken_links += _link_problems(links, server.base, root, ids, report)
    report.external = sorted(external)
    report.seconds = time.perf_counter() - start
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="check_book.py", description=__doc__.splitlines()[0])
    parser.add_argument("html", type=Path, help="the built book's HTML folder, e.g. _build/html")
    parser.add_argument("--screenshots", type=Path, help="screenshot folder (default <html>/_screenshots)")
    parser.add_argument("--no-screenshots", action="store_true", help="take no screenshots")
    parser.add_argument("--chromium", help="Chromium executable (default $CHROMIUM or chromium on PATH)")
    parser.add_argument("--json", type=Path, help="also write the report as JSON here")
    args = parser.parse_args(argv)
    try:
        report = check_book(args.html, None if args.no_screenshots else (args.screenshots or ""), args.chromium)
    except FileNotFoundError as error:
        print(f"[check_book] {error}", file=sys.stderr)
        return 2
    print(report.summary())
    if args.json:
        args.json.write_text(json.dumps(report.to_json(), indent=1), encoding="utf-8")
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
