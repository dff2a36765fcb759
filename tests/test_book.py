"""The HTML book (`make book`): built offline by mdBook from course.toml, every internal link and
image resolving, formulas as MathML, and every page opened by a headless Chromium (Debian's
`chromium`) without a console message, with one screenshot per page under
build/book/screenshots/ (ignored by git).

Without Chromium the browser test is skipped, unless S2S_REQUIRE_BROWSER=1 — CI sets it, and
`.ci/run` installs Chromium in the background while the venv is set up."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest

import book
from course import ROOT, chapters

SHOTS = ROOT / "build" / "book" / "screenshots"


@pytest.fixture(scope="module")
def html() -> Path:
    return book.build(ROOT)


def test_config_is_plain_mdbook_and_lists_every_chapter(html):
    summary = (book.SRC / "SUMMARY.md").read_text()
    for chapter in chapters():
        assert f"({chapter.file}.md)" in summary
        assert (html / f"{chapter.file}.html").exists()
    assert "[course" not in (ROOT / "book.toml").read_text()


def test_every_internal_link_and_image_resolves(html):
    assert book.broken_links(html) == []
    figures = list(html.glob("*_files/*.png"))
    assert len(figures) >= len(chapters()), "the chapters' figures are missing"


def test_a_broken_link_is_caught(html, tmp_path):
    copy = tmp_path / "html"
    shutil.copytree(html, copy)
    page = copy / "introduction.html"
    page.write_text(page.read_text().replace(
        "</main>", '<a href="no_such_page.html">x</a><a href="02_data.html#nowhere">y</a>'
        '<img src="02_data_files/missing.png"></main>', 1))
    broken = book.broken_links(copy)
    assert len(broken) == 3, broken
    assert any("no such anchor" in b for b in broken)


def test_formulas_are_mathml_and_nothing_comes_from_the_network(html):
    for chapter in chapters():
        page = (html / f"{chapter.file}.html").read_text()
        source = (ROOT / "chapters" / f"{chapter.file}.py").read_text()
        if re.search(r"\$[^$\s][^$\n]*\$", source):
            assert "<math" in page, f"{chapter.file}: formulas not converted"
        prose = re.sub(r"<(code|pre)[^>]*>.*?</\1>", "", page, flags=re.S)
        assert not re.search(r"\$\\[a-z]+", prose), f"{chapter.file}: raw LaTeX left"
        assert not re.search(r'<(script|link|img)[^>]+(src|href)="https?://', page), \
            f"{chapter.file}: a script, style sheet or image from the network"


def test_prose_math_conversion():
    text = "cost $e^{1 - r/c}$ and `$PATH` and $5 and\n$$\\sum_j \\alpha_j v_j$$"
    out = book.prose_math_to_mathml(text)
    assert out.count("<math") == 2 and "`$PATH`" in out and "$5" in out
    with pytest.raises(book.MathError, match=r"cell 3.*\\frac\{"):
        book.prose_math_to_mathml("$\\frac{$", "ch cell 3")


def chromium() -> str | None:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found or os.environ.get("S2S_REQUIRE_BROWSER") != "1":
        return found
    deadline = time.monotonic() + 180  # CI: .ci/run may still be installing it
    while time.monotonic() < deadline and not found:
        time.sleep(5)
        found = shutil.which("chromium")
    if not found:
        pytest.fail("S2S_REQUIRE_BROWSER=1 but no chromium: install Debian's chromium "
                    "(see /tmp/s2s-chromium-install.log when .ci/run installed it)")
    return found


def test_chromium_opens_every_page(html):
    browser = chromium()
    if browser is None:
        pytest.skip("no chromium here (apt-get install chromium); CI requires it")
    SHOTS.mkdir(parents=True, exist_ok=True)
    for name in ["introduction", *(c.file for c in chapters())]:
        shot = SHOTS / f"{name}.png"
        shot.unlink(missing_ok=True)
        done = subprocess.run(
            [browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
             "--window-size=1200,1600", f"--screenshot={shot}", "--enable-logging=stderr",
             "--v=0", (html / f"{name}.html").as_uri()],
            capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr[-2000:]
        console = [line for line in done.stderr.splitlines() if ":CONSOLE" in line]
        assert console == [], f"{name}: {console}"
        assert shot.exists() and shot.stat().st_size > 20_000, f"{name}: no screenshot"
