"""The book: builds with -W, renders offline, reuses its execution cache, shows the exercise
notebooks (stubs only) and never the solutions."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from autograder.spec import get_assignment
from tests.conftest import ASSIGNMENTS, HTML, ROOT, build_book as build  # noqa: F401
from tests.test_exercises import solution_lines

pytestmark = pytest.mark.book
# The build itself is the session fixture `built` in conftest.py, shared with test_browser.py.


def pages(built) -> dict:
    return {p.relative_to(HTML).as_posix(): p.read_text(encoding="utf-8", errors="replace")
            for p in HTML.rglob("*.html")}


def test_rebuild_reuses_execution_cache(built, tmp_path):
    """A second build, with the first build's execution cache, reads every page and executes
    no notebook. It builds into its own folder (`--path-output`, with a copy of the cache):
    other tests read _build/html meanwhile."""
    shutil.copytree(ROOT / "_build" / ".jupyter_cache", tmp_path / "_build" / ".jupyter_cache")
    again = build("--path-output", str(tmp_path))
    assert again.returncode == 0, again.stdout[-4000:]
    log = again.stdout + again.stderr
    assert (tmp_path / "_build" / "html" / "intro.html").is_file(), log[-3000:]
    assert "Executing notebook" not in log, log[-3000:]
    assert re.search(r"[Uu]sing cached notebook", log), log[-3000:]


def test_no_remote_assets(built):
    for name, text in pages(built).items():
        for tag in re.findall(r"<(?:script|link|img)\b[^>]*>", text):
            if re.search(r"""(?:src|href)=["'](?:https?:)?//""", tag) and "rel=\"canonical\"" not in tag:
                pytest.fail(f"{name} loads a remote asset: {tag}")
    assert (HTML / "_static" / "mathjax" / "tex-chtml-full.js").exists()
    chapter = (HTML / "chapters" / "01_information.html").read_text(encoding="utf-8")
    assert "_static/mathjax/tex-chtml-full.js" in chapter


def test_solutions_never_in_the_html(built):
    assert not (HTML / "solutions").exists()
    # Sphinx copies each page's source to _sources/ (html_copy_source); wherever it puts them,
    # no file or folder of the build may come from solutions/.
    built_paths = [p.relative_to(HTML) for p in HTML.rglob("*")]
    assert any(p.suffix == ".html" for p in built_paths), f"nothing built in {HTML}"
    leaked_paths = [p for p in built_paths
                    if any(part.startswith("solutions") for part in p.parts)]
    assert not leaked_paths, leaked_paths
    everything = "\n".join(pages(built).values())
    for p in HTML.rglob("*"):
        if p.suffix in {".ipynb", ".md", ".txt", ".py"} and p.is_file():
            everything += "\n" + p.read_text(encoding="utf-8", errors="replace")
    import html as html_lib

    plain = html_lib.unescape(re.sub(r"<[^>]+>", "", everything))
    for name in ASSIGNMENTS:
        leaked = [line for line in solution_lines(name) if line in plain]
        assert not leaked, leaked


def test_exercise_pages_show_stubs_with_a_download_link(built):
    for name in ASSIGNMENTS:
        page = (HTML / "exercises" / f"{name}.html").read_text(encoding="utf-8")
        assert "NotImplementedError" in page
        assert "public_tests" in page
        chapter_links = [t for t in pages(built).values() if f"{name}.ipynb" in t]
        assert chapter_links, f"no download link to {name}.ipynb"
        downloads = list(HTML.rglob(f"{name}.ipynb"))
        assert downloads, "the notebook itself is not in the built site"


def test_feedback_links_point_at_real_sections(built):
    for name in ASSIGNMENTS:
        for gf in get_assignment(name).functions:
            page = HTML / f"{gf.section.page}.html"
            assert page.exists(), gf.section
            assert f'id="{gf.section.label}"' in page.read_text(encoding="utf-8"), gf.section


def test_chapter_has_figures_proofs_and_citations(built):
    chapter = (HTML / "chapters" / "01_information.html").read_text(encoding="utf-8")
    assert len(re.findall(r"<img [^>]*src=\"../_images/", chapter)) >= 3
    assert "proof" in chapter and "theorem" in chapter
    assert "bibliography" in (HTML / "bibliography.html").read_text(encoding="utf-8").lower()
    glossary = (HTML / "glossary.html").read_text(encoding="utf-8")
    assert re.search(r"[\u4e00-\u9fff]", glossary), "glossary must give Chinese names"


def _letters(text: str) -> str:
    return re.sub(r"[^a-z]", "", text.lower())


def _section_heading(page: Path, label: str) -> str:
    """The text of the heading that the MyST label `label` stands before, math removed."""
    import html as html_lib

    text = page.read_text(encoding="utf-8")
    m = re.search(rf'<section id="{re.escape(label)}">\s*<h\d>(.*?)</h\d>', text, re.S) or \
        re.search(rf'<section[^>]*>\s*<span id="{re.escape(label)}"></span><h\d>(.*?)</h\d>',
                  text, re.S)
    assert m, f"no section labelled {label} in {page.name}"
    heading = re.sub(r'<a class="headerlink".*?</a>', "", m.group(1))
    heading = re.sub(r'<span class="math[^"]*">.*?</span>', "", heading)
    return html_lib.unescape(re.sub(r"<[^>]+>", "", heading)).strip()


def test_grader_sections_name_real_headings(built):
    """Each graded function's Section (what a failed check tells the student to reread) has
    the title of the heading its label stands before."""
    for name in ASSIGNMENTS:
        for gf in get_assignment(name).functions:
            heading = _section_heading(HTML / f"{gf.section.page}.html", gf.section.label)
            assert heading and _letters(gf.section.title).startswith(_letters(heading)), (
                gf.name, gf.section.title, heading)


def test_exercise_section_references_are_links_that_resolve(built):
    """The exercise pages refer to chapter sections by links whose targets exist and whose
    text is the heading's; no section is named in plain text."""
    import html as html_lib

    for name in ASSIGNMENTS:
        page = (HTML / "exercises" / f"{name}.html").read_text(encoding="utf-8")
        plain = html_lib.unescape(re.sub(r"<[^>]+>", "", page))
        assert not re.search(r"section\s+\*", plain), "a section named in plain text"
        links = re.findall(r'<a class="reference internal" href="(\.\./chapters/[^"]+#[^"]+)">'
                           r'(.*?)</a>', page, re.S)
        n_functions = len(get_assignment(name).functions)
        assert len(links) >= n_functions - 1, (name, links)
        for href, text in links:
            target, _, anchor = href.partition("#")
            target_page = (HTML / "exercises" / target).resolve()
            assert target_page.is_file(), href
            assert f'id="{anchor}"' in target_page.read_text(encoding="utf-8"), href
            heading = _section_heading(target_page, anchor)
            text = html_lib.unescape(re.sub(r"<[^>]+>", "", text))
            assert _letters(text).startswith(_letters(heading)), (href, text, heading)


def test_intro_lists_every_chapter_with_its_exercise_once(built):
    intro = (HTML / "intro.html").read_text(encoding="utf-8")
    article = intro[intro.index('<article'):intro.index('</article>')]
    assert len(re.findall(r">\s*Chapters\s*<", article)) == 1, "“Chapters” shown twice"
    contents = article[article.index('id="sec-intro-contents"'):]
    for name in ASSIGNMENTS:
        chapter = contents.index(f'href="chapters/{name}.html"')
        exercise = contents.index(f'href="exercises/{name}.html"')
        assert chapter < exercise


def _code_cells(text: str) -> list:
    return re.findall(r"```\{code-cell\}[^\n]*\n(.*?)```", text, re.S)


def test_chapter_pages_follow_the_page_conventions():
    """docs/PAGE_CONVENTIONS.md, the parts a program can check: every section has a label,
    code lines fit 88 columns, checks and plots are folded, figures have a caption, a name and
    alt text, and there are at least five section exercises, each with a folded solution."""
    for page in sorted((ROOT / "chapters").glob("*.md")):
        text = page.read_text(encoding="utf-8")
        lines = text.split("\n")
        in_fence = False
        for i, line in enumerate(lines):
            if line.startswith("```"):
                in_fence = not in_fence if (not in_fence or line.strip() == "```") else True
            if not in_fence and re.match(r"##+ ", line):
                before = next(x for x in reversed(lines[:i]) if x.strip())
                assert re.match(r"^\([\w-]+\)=$", before), f"{page.name}: no label for {line!r}"
        for cell in _code_cells(text):
            header, body = "", cell
            if cell.startswith("---\n"):  # options as a YAML block
                header, _, body = cell[4:].partition("\n---\n")
            else:  # or as ":key: value" lines
                options = re.match(r"(?:[ \t]*:[\w-]+:[^\n]*\n)*", cell).group(0)
                header, body = options, cell[len(options):]
            for line in body.splitlines():
                assert len(line) <= 88, f"{page.name}: code line of {len(line)} characters"
            if re.search(r"^\s*assert |plt\.show\(\)", body, re.M):
                assert "hide-input" in header, f"{page.name}: unfolded check:\n{body[:200]}"
            if "plt.show()" in body:
                for key in ("caption:", "name: fig-", "alt:"):
                    assert key in header, f"{page.name}: figure without {key}\n{body[:200]}"
        exercises = re.findall(r"^:::\{exercise\}\n:label: ([\w-]+)", text, re.M)
        assert len(exercises) >= 5, f"{page.name}: {len(exercises)} section exercises"
        for label in exercises:
            assert re.search(rf"^:::\{{solution\}} {label}\n:class: dropdown", text, re.M), label


def test_exercise_pages_are_not_numbered(built):
    """Each exercise notebook used to inherit a section number after its chapter's sections
    (4.14 in the sidebar, "4.14.1. 1. Output size" as a heading). Chapters keep theirs."""
    for name in ASSIGNMENTS:
        page = (HTML / "exercises" / f"{name}.html").read_text(encoding="utf-8")
        article = page[page.index("<article"):page.index("</article>")]
        assert 'class="section-number"' not in article, f"exercises/{name}: numbered heading"
        chapter = (HTML / "chapters" / f"{name}.html").read_text(encoding="utf-8")
        n = int(name[:2])
        assert re.search(rf'<h1><span class="section-number">{n}\. </span>', chapter), name
        assert re.search(rf'<h2><span class="section-number">{n}\.1\. </span>', chapter), name
    for rel, text in pages(built).items():
        if 'class="bd-links bd-docs-nav"' not in text:
            continue
        nav = text[text.index('class="bd-links bd-docs-nav"'):]
        nav = nav[:nav.index("</nav>")]
        # Exercises are the second level under their chapters; chapters keep their number.
        entries = re.findall(r'<li class="toctree-(l[12])[^"]*"><a class="[^"]*reference '
                             r'internal" href="[^"]*">\s*([^<]*)', nav)
        chapters = [e.strip() for level, e in entries if level == "l1" and "Exercise" not in e]
        exercises = [e.strip() for level, e in entries if level == "l2"]
        assert len(exercises) == len(ASSIGNMENTS), (rel, exercises)
        numbered = [e for e in exercises if not e.startswith("Exercise ")]
        assert not numbered, f"{rel}: numbered exercise entries {numbered}"
        assert [c.split(".")[0] for c in chapters[:len(ASSIGNMENTS)]] == [
            str(n) for n in range(1, len(ASSIGNMENTS) + 1)], (rel, chapters)
