#!/usr/bin/env bash
# Headless Chromium for tests/test_browser.py, which `make test` runs: Debian's package, driven by Playwright
# through executable_path (so `playwright install` never runs). Does nothing when Chromium is installed;
# installs it with apt-get as root (or through passwordless sudo); otherwise stops at once with one line
# saying what to install, before any test starts.
set -euo pipefail
if [ -n "${CHROMIUM:-}" ] && [ -x "${CHROMIUM}" ]; then
  exit 0
fi
for name in chromium chromium-browser google-chrome google-chrome-stable; do  # tools/check_book.py's names
  if command -v "$name" >/dev/null 2>&1; then
    exit 0
  fi
done
if command -v apt-get >/dev/null 2>&1; then
  if [ "$(id -u)" -eq 0 ]; then as_root=(); elif sudo -n true 2>/dev/null; then as_root=(sudo -n); else as_root=(); fi
  if [ "$(id -u)" -eq 0 ] || [ "${#as_root[@]}" -gt 0 ]; then
    echo "[setup] installing chromium (apt-get) for the browser test"
    "${as_root[@]}" apt-get update -q
    "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends chromium
    exit 0
  fi
fi
echo "[setup] make test needs Chromium for tests/test_browser.py: install it (Debian/Ubuntu: sudo apt-get install chromium; macOS: brew install --cask chromium), then run make test again; make test-fast runs the tests that need no browser" >&2
exit 1
