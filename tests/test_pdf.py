"""`python3 course.py pdf`: the whole book as one PDF, built offline, looked at as images.

The command builds the single-page HTML book and prints it with headless Chromium
(_ext/course_pdf.py), which itself fails on a console error, a request outside the book or a
box wider than the printed column. Here we check the PDF: every chapter, exercise notebook, the
glossary (with its Chinese names in a font that has them) and the bibliography are in it; it has
an outline and internal links; and pages rendered to PNG (pdftoppm) have nothing in the right
margin (a line running off the page) and are not blank.

Needs Chromium (like tests/test_browser.py) and poppler-utils (pdftoppm, pdftotext, pdffonts);
without them the module is skipped with the reason.
"""

from __future__ import annotations

import importlib.util
import re
import shutil
import subprocess

import pytest

from tests.conftest import ROOT

pytestmark = [pytest.mark.book, pytest.mark.browser]

TOOLS = ("pdftoppm", "pdftotext", "pdffonts", "pdfinfo")
if not all(map(shutil.which, TOOLS)):
    pytest.skip("no poppler-utils (apt-get install poppler-utils): "
                + ", ".join(t for t in TOOLS if not shutil.which(t)) + " missing",
                allow_module_level=True)
if not any(map(shutil.which, ("chromium", "chromium-browser", "google-chrome"))):
    pytest.skip("no browser: install Chromium (e.g. `apt-get install chromium`) to build the "
                "PDF", allow_module_level=True)
pytest.importorskip("playwright", reason="the `playwright` package prints the PDF")
Image = pytest.importorskip("PIL.Image")

DPI = 40  # enough to see where ink is; 1 px = 0.64 mm
MARGIN_MM = 12  # _ext/course_pdf.py


def load_course():
    spec = importlib.util.spec_from_file_location("course_cli", ROOT / "course.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def pdf(built):
    """After the HTML build (conftest.built), so that the notebooks come from its execution
    cache instead of being executed a second time."""
    course = load_course()
    course.setup = lambda: None  # the test runs inside the installed environment already
    code = course.pdf([])
    assert code == 0, "`python3 course.py pdf` failed (its messages are in the output above)"
    assert course.PDF.is_file()
    return course.PDF


def run(*cmd: str) -> str:
    return subprocess.run(cmd, capture_output=True, text=True, check=True).stdout


def test_pdf_holds_the_whole_book(pdf):
    text = run("pdftotext", "-layout", str(pdf), "-")
    pages = int(re.search(r"Pages:\s+(\d+)", run("pdfinfo", str(pdf))).group(1))
    assert pages > 50, pages
    titles = [re.sub(r"\s+", " ", line.split(":", 1)[0]).strip()
              for line in (ROOT / "_toc.yml").read_text().splitlines()
              if line.strip().startswith("- file: chapters/")]
    assert titles
    flat = re.sub(r"\s+", " ", text)
    for needle in ("Glossary", "Bibliography", "Exercise 01", "熵", "交叉熵",
                   "Entropy, Cross-Entropy"):
        assert needle in flat, f"{needle!r} is not in the PDF's text"
    # Executed output: a figure caption number and a printed result are there.
    assert re.search(r"Fig\. \d+\.\d+", flat)
    # No TeX source left over (MathJax typeset every formula before printing).
    assert not re.search(r"\\\(|\\\[|\\frac|\\mathrm", flat), "raw TeX in the PDF"


def test_pdf_fonts_cover_the_text(pdf):
    """The Chinese glossary names are drawn with a CJK font, not as empty boxes."""
    fonts = run("pdffonts", str(pdf))
    assert re.search(r"CJK|WenQuanYi|WQY|Droid|Noto Sans (?:CJK|SC)|Source Han|Hei|Ming|Song",
                     fonts, re.I), fonts


def test_pdf_has_outline_and_links(pdf):
    data = pdf.read_bytes()
    assert b"/Outlines" in data, "no bookmark outline"
    assert data.count(b"/Link") > 100, "internal cross-references are not links"


def test_pdf_pages_look_right(pdf, tmp_path):
    """A sample of pages as images: ink inside the text area, nothing in the right margin."""
    pages = int(re.search(r"Pages:\s+(\d+)", run("pdfinfo", str(pdf))).group(1))
    sample = sorted({1, 2, 3, pages // 4, pages // 2, 3 * pages // 4, pages - 1, pages})
    bad = []
    for n in sample:
        prefix = tmp_path / f"p{n}"
        run("pdftoppm", "-r", str(DPI), "-gray", "-png", "-f", str(n), "-l", str(n),
            str(pdf), str(prefix))
        png = next(tmp_path.glob(f"p{n}*.png"))
        img = Image.open(png).convert("L")
        w, h = img.size
        margin = int(MARGIN_MM / 25.4 * DPI) - 2
        px = img.load()
        ink_cols = [x for x in range(w) if any(px[x, y] < 128 for y in range(0, h, 2))]
        if not ink_cols:
            bad.append(f"page {n} is blank")
            continue
        if max(ink_cols) >= w - margin:
            bad.append(f"page {n}: ink at x={max(ink_cols)} of {w} px, in the right margin "
                       "(a line runs off the page)")
        img.save(ROOT / "_build" / "pdf" / f"page-{n:03d}.png")
    assert not bad, "\n".join(bad)
