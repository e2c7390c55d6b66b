"""Drop the duplicate inline <script> tags that Sphinx 7.4 writes into every page.

sphinx-thebe (and sphinx-togglebutton) add inline scripts once the builder exists; Sphinx
7.4 then keeps two copies, one from the builder (filename None) and one re-read from the
registry (filename ''), which its de-duplication treats as different. sphinx-thebe's copy
declares ``const THEBE_JS_URL``, so the second is a SyntaxError on every page (found by
``tools/check_book.py`` in headless Chromium). No released extension fixes this.
"""

from __future__ import annotations

from typing import Any


def _unique(app: Any, pagename: str, templatename: str, context: dict[str, Any], doctree: Any) -> None:
    """Keep the first of each script that has the same file, priority and attributes."""
    scripts = context.get("script_files")
    if not scripts:
        return
    seen, unique = set(), []
    for script in scripts:
        key = (script.filename or "", script.priority, tuple(sorted(script.attributes.items())))
        if key not in seen:
            seen.add(key)
            unique.append(script)
    scripts[:] = unique


def setup(app: Any) -> dict[str, bool]:
    """Register the de-duplication on every HTML page."""
    app.connect("html-page-context", _unique)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
