"""Open a ``deltaflow explain --html`` page in headless Chromium and save a screenshot.

    python tools/page_screenshot.py explain.html docs/img/explain_page.png --step 6

Debian's ``chromium`` (``apt-get install chromium``) driven by Playwright (``pip install
playwright``) with the system browser -- never ``playwright install``, which downloads one.
The flags keep the browser off the network; each run gets a new empty profile.
``tests/viz/test_page.py`` opens the page the same way (:func:`browser`).
"""
from __future__ import annotations

import argparse
import contextlib
import shutil
import tempfile
from pathlib import Path

FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def chromium_path() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


@contextlib.contextmanager
def browser(width=1280, height=800):
    """A headless Chromium context (Playwright, the system browser, a fresh profile)."""
    from playwright.sync_api import sync_playwright
    with sync_playwright() as p, tempfile.TemporaryDirectory() as profile:
        context = p.chromium.launch_persistent_context(
            profile, executable_path=chromium_path(), headless=True, args=FLAGS,
            viewport={"width": width, "height": height})
        try:
            yield context
        finally:
            context.close()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("html", type=Path)
    parser.add_argument("png", type=Path)
    parser.add_argument("--step", type=int, default=0, help="step to show (0 = the first)")
    args = parser.parse_args(argv)
    with browser() as context:
        page = context.new_page()
        errors = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(args.html.resolve().as_uri())
        for _ in range(args.step):
            page.keyboard.press("ArrowRight")
        page.screenshot(path=str(args.png))
    if errors:
        print("JavaScript errors:", *errors, sep="\n  ")
        return 1
    print(f"wrote {args.png}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
