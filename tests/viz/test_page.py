"""``deltaflow explain --html``: the page in a real headless browser (Debian's chromium,
driven by Playwright with the system browser) shows the first step, walks every step with
the Next button and with the keyboard, shows the numbers of the text output, marks checks
✓/✗ and logs no JavaScript error."""
import math
import re
import sys
from pathlib import Path

import numpy as np
import pytest

from deltaflow.cli import main
from deltaflow.cli.targets import resolve
from deltaflow.diagnostics.explain import explain
from deltaflow.viz import page_data, write_page

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from tools import page_screenshot  # noqa: E402  (the browser set-up, shared with the tool)

NUMBER = re.compile(r"[-+]?(?:\d+\.\d*|\.\d+|\d+)(?:e[-+]?\d+)?")


@pytest.fixture(scope="module")
def browser():
    pytest.importorskip("playwright.sync_api",
                        reason="playwright is not installed (pip install playwright)")
    if page_screenshot.chromium_path() is None:
        pytest.skip("chromium is not installed (apt-get install chromium)")
    with page_screenshot.browser() as context:
        yield context


class Page:
    """A page opened from ``file://`` with every JavaScript error and console error kept."""

    def __init__(self, context, path):
        self.page = context.new_page()
        self.errors = []
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on("console", lambda m: self.errors.append(m.text)
                     if m.type == "error" else None)
        self.page.on("request", lambda r: self.errors.append(f"network: {r.url}")
                     if not r.url.startswith(("file:", "data:", "about:")) else None)
        self.page.goto(path.as_uri())

    def step(self) -> int:
        return int(self.page.get_attribute("body", "data-step"))

    def cards(self):
        return self.page.query_selector_all("#quantities .q")


def flat(v):
    return [float(x) for x in np.ravel(np.asarray(v, dtype=np.float64))]


def page_numbers(card):
    return [float(td.inner_text()) for td in card.query_selector_all(".values-box td.num")]


def text_numbers(text, equation, count):
    """The ``count`` numbers printed after ``equation`` and its shape in the text output."""
    at = text.index(equation) + len(equation)
    printed = re.sub(r"[✓✗][^\n]*", "", text[at:at + 200 * count + 400])   # the check marks
    found = NUMBER.findall(printed)
    return [float(x) for x in found[:count]], found


def check_step(card_list, step, text):
    assert len(card_list) == len(step["quantities"])
    shown = 0
    for card, q in zip(card_list, step["quantities"]):
        assert card.query_selector(".eq").inner_text() == q["equation"]
        if isinstance(q.get("values"), list):
            values = flat(q["values"])
            got = page_numbers(card)
            np.testing.assert_allclose(got, values, atol=1e-6 + 1e-6 * max(map(abs, values)),
                                       rtol=1e-6)
            # the same numbers as the text output: after the equation come its shape, then
            # the values
            numbers, _ = text_numbers(text, q["equation"], len(q["shape"]) + len(values))
            assert numbers[:len(q["shape"])] == q["shape"]
            printed = numbers[len(q["shape"]):]
            np.testing.assert_allclose(got, printed, atol=1.5e-6 * max(1, max(map(abs, got))),
                                       rtol=1e-6)
            shown += 1
        elif "norm" in q:
            stats = {s.get_attribute("data-stat"): float(s.inner_text())
                     for s in card.query_selector_all(".stat")}
            for key, name in (("norm", "‖·‖"), ("mean", "mean"), ("min", "min"),
                              ("max", "max")):
                assert stats[name] == pytest.approx(q[key], rel=1e-3, abs=1e-12)
            shown += 1
        mark = card.query_selector(".check")
        if q.get("check"):
            assert mark.inner_text().startswith("✓" if q["check"]["ok"] else "✗")
        else:
            assert mark is None
    return shown


@pytest.fixture(scope="module")
def textbook(tmp_path_factory):
    result = explain()
    path = tmp_path_factory.mktemp("page") / "explain.html"
    write_page(result, path)
    return result, path


def test_page_is_self_contained(textbook):
    _, path = textbook
    html = path.read_text()
    assert "<script src" not in html and "<link" not in html and "http://" not in html.replace(
        "http://www.w3.org/2000/svg", "")
    assert "https://" not in html


def test_first_step_then_every_step_with_the_next_button(browser, textbook, tmp_path):
    result, path = textbook
    data = page_data(result)
    text = result.format("text")
    page = Page(browser, path)
    steps = data["steps"]
    assert page.step() == 0
    assert page.page.inner_text("#counter") == f"1 / {len(steps)}"
    assert page.page.inner_text("#steptitle") == steps[0]["title"]
    assert page.page.is_disabled("#prev") and not page.page.is_disabled("#next")
    page.page.screenshot(path=str(tmp_path / "first.png"))
    shown = 0
    for k, step in enumerate(steps):
        assert page.step() == k
        assert page.page.inner_text("#steptitle") == step["title"]
        assert page.page.inner_text("#phase") == step["phase"].upper()
        # the highlighted column of the network is the step's layer
        active = page.page.query_selector("#network .column.active")
        assert active.get_attribute("data-column") == str(step["column"])
        shown += check_step(page.cards(), step, text)
        if k + 1 < len(steps):
            page.page.click("#next")
    assert page.page.is_disabled("#next")
    assert shown >= 14                        # every matrix of the textbook example
    checks = [q["check"] for s in steps for q in s["quantities"] if q.get("check")]
    assert len(checks) == data["checks"]["count"] > 0 and all(c["ok"] for c in checks)
    assert page.errors == []
    shot = tmp_path / "backward.png"
    page.page.keyboard.press("Home")
    for _ in range(5):
        page.page.keyboard.press("ArrowRight")
    page.page.screenshot(path=str(shot))
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_every_step_with_the_keyboard(browser, textbook):
    result, path = textbook
    steps = page_data(result)["steps"]
    page = Page(browser, path)
    for k in range(1, len(steps)):
        page.page.keyboard.press("ArrowRight" if k % 2 else "Space")
        assert page.step() == k
        assert page.page.inner_text("#steptitle") == steps[k]["title"]
    page.page.keyboard.press("ArrowRight")            # past the end: stays
    assert page.step() == len(steps) - 1
    page.page.keyboard.press("ArrowLeft")
    assert page.step() == len(steps) - 2
    page.page.keyboard.press("Home")
    assert page.step() == 0
    page.page.keyboard.press("End")
    assert page.step() == len(steps) - 1
    page.page.click("#timeline button >> nth=2")
    assert page.step() == 2
    assert page.errors == []


def test_large_tensors_show_statistics(browser, tmp_path):
    t = resolve("8,16,4", batch_size=4, seed=0)
    result = explain(t.model, t.x, t.y, t.loss_fn, loss_name=t.loss_name, title="spec")
    path = tmp_path / "spec.html"
    write_page(result, path)
    page = Page(browser, path)
    text = result.format("text")
    steps = page_data(result)["steps"]
    stats = 0
    for k, step in enumerate(steps):
        check_step(page.cards(), step, text)
        stats += sum("norm" in q for q in step["quantities"])
        if k + 1 < len(steps):
            page.page.keyboard.press("ArrowRight")
    assert stats > 0
    assert page.errors == []


def test_a_failed_check_shows_a_cross_and_the_warning(browser, tmp_path):
    data = page_data(explain())
    q = next(q for s in data["steps"] for q in s["quantities"] if q.get("check"))
    q["check"] = {"difference": 0.2, "tolerance": 1e-10, "ok": False, "mark": "✗",
                  "against": "autograd"}
    data["checks"]["failed"] = 1
    n = data["checks"]["count"]
    data["warnings"] = [f"{q['symbol']}: differs from autograd by 0.2"]
    path = tmp_path / "bad.html"
    write_page(data, path)
    page = Page(browser, path)
    k = next(k for k, s in enumerate(data["steps"]) if q in s["quantities"])
    for _ in range(k):
        page.page.click("#next")
    marks = [c.inner_text() for c in page.page.query_selector_all("#quantities .check.bad")]
    assert len(marks) == 1 and marks[0].startswith("✗ 0.2") and "differs" in marks[0]
    assert "differs from autograd by 0.2" in page.page.inner_text("#notes")
    assert f"{n - 1}/{n} equations" in page.page.inner_text("#meta")
    assert page.errors == []


def test_cli_explain_html(tmp_path, capsys):
    path = tmp_path / "e.html"
    assert main(["explain", "--html", str(path)]) == 0
    out, err = capsys.readouterr()
    assert f"wrote {path}" in err and "BACKWARD" in out.upper()
    html = path.read_text()
    assert "const DATA = {" in html and not math.isnan(len(html))
