"""The built book in a real browser: every page, from a local HTTP server and from file://, at
desktop (1366 px) and phone (390 px) width, with every request outside the site blocked.

A page fails on a console error, a MathJax error, TeX left over in the rendered text, an image
that did not load or has no real alt text, an image or figure without a caption, a link to a
page or anchor of the site that does not exist, an element wider than a phone's viewport that
cannot be scrolled sideways, a display equation, code or output box that does not fit its
column at 1366 px, and any request that leaves the site. Screenshots of every page at
both widths go to _build/screenshots/ for a human to look at.

Needs the `playwright` package (in the `dev` extras; its wheel ships the driver) and a Chromium
on PATH (`apt-get install chromium`); without them the module is skipped with the reason. Never
run `playwright install`: the system Chromium is used.
"""

from __future__ import annotations

import functools
import html as html_lib
import http.server
import re
import shutil
import threading
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

from tests.conftest import HTML, ROOT, per_worker

pytestmark = [pytest.mark.book, pytest.mark.browser]

CHROMIUM = next(filter(None, map(shutil.which, ("chromium", "chromium-browser",
                                                "google-chrome"))), None)
try:
    from playwright.sync_api import sync_playwright
except ImportError:  # pragma: no cover - depends on the machine
    sync_playwright = None
if sync_playwright is None:
    pytest.skip("no browser: the `playwright` package is not installed "
                "(pip install -e .[dev])", allow_module_level=True)
if CHROMIUM is None:
    pytest.skip("no browser: install Chromium (e.g. `apt-get install chromium`) to run the "
                "browser tests", allow_module_level=True)

ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
WIDTHS = {"desktop": 1366, "phone": 390}
SHOTS = ROOT / "_build" / "screenshots"  # emptied by each build (conftest.built)
# TeX that MathJax should have typeset; finding it in the rendered text means a formula broke.
LEFTOVER_TEX = re.compile(r"\$|\\(?:[a-zA-Z]{2,}|[(\[{}\])])")

# Runs in the page once MathJax has finished. Returns what the Python side checks.
INSPECT = r"""
async () => {
  if (window.MathJax && MathJax.startup && MathJax.startup.promise) {
    await MathJax.startup.promise;
  }
  const imgs = [...document.querySelectorAll('img')];
  await Promise.all(imgs.map(i => { i.loading = 'eager'; return i.decode().catch(() => {}); }));
  const visible = el => {
    const s = getComputedStyle(el);
    if (s.display === 'none' || s.visibility === 'hidden') return false;
    const r = el.getBoundingClientRect();
    return r.width > 0 && r.height > 0;
  };
  const describe = el => {
    const id = el.id ? '#' + el.id : '';
    const cls = el.className && typeof el.className === 'string'
      ? '.' + el.className.trim().split(/\s+/).slice(0, 2).join('.') : '';
    const sec = el.closest('section[id]');
    return `<${el.tagName.toLowerCase()}${id}${cls}> in #${sec ? sec.id : '?'}: `
      + JSON.stringify((el.textContent || el.getAttribute('alt') || '').trim().slice(0, 70));
  };
  // Text outside typeset math and code.
  const SKIP = 'mjx-container, code, pre, script, style, kbd, samp, textarea, .highlight, '
    + 'mjx-assistive-mml, .MathJax, [aria-hidden="true"], .headerlink';
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  const texts = [];
  for (let n = walker.nextNode(); n; n = walker.nextNode()) {
    const p = n.parentElement;
    if (!p || p.closest(SKIP) || !n.nodeValue.trim()) continue;
    const sec = p.closest('section[id]');
    texts.push([sec ? sec.id : '', n.nodeValue]);
  }
  const images = imgs.filter(i => !i.closest('.bd-header, .navbar-brand')).map(i => ({
    src: i.getAttribute('src'), ok: i.complete && i.naturalWidth > 0,
    alt: i.getAttribute('alt'),
    caption: (() => { const f = i.closest('figure');
                      const c = f && f.querySelector('figcaption');
                      return c ? c.textContent.trim() : ''; })(),
    where: describe(i), shown: i.getBoundingClientRect().width,
    natural: i.naturalWidth,
  }));
  const figures = [...document.querySelectorAll('figure')]
    .filter(f => !(f.querySelector('figcaption') && f.querySelector('figcaption')
                   .textContent.trim()))
    .map(describe);
  const links = [...document.querySelectorAll('a[href]')].map(a => a.href);
  // Elements sticking out of the viewport with no horizontally scrollable ancestor.
  const vw = document.documentElement.clientWidth;
  const overflow = [];
  if (vw < 600) {
    for (const el of document.querySelectorAll('body *')) {
      const r = el.getBoundingClientRect();
      if (r.right <= vw + 1 && r.left >= -1) continue;
      if (!visible(el) || el.closest('mjx-assistive-mml')) continue;
      // Off-canvas navigation (the phone's hidden sidebar/drawers) is not part of the page.
      if (el.closest('dialog, .bd-sidebar-primary, .bd-sidebar-secondary, .search-button__wrapper'))
        continue;
      let scrollable = false, clipped = null;
      for (let a = el.parentElement; a && a !== document.body; a = a.parentElement) {
        const ox = getComputedStyle(a).overflowX;
        if (ox === 'auto' || ox === 'scroll') {
          const ar = a.getBoundingClientRect();
          if (ar.right <= vw + 1 && ar.left >= -1) { scrollable = true; break; }
        }
        if ((ox === 'hidden' || ox === 'clip') && !clipped) clipped = a;
      }
      if (scrollable) continue;
      // Report only the outermost offender of each subtree.
      if (overflow.some(o => o.el.contains(el))) continue;
      overflow.push({el, text: describe(el) + ` (${Math.round(r.left)}..${Math.round(r.right)}`
                     + ` px of ${vw}${clipped ? ', cut off' : ''})`});
    }
  }
  // At desktop width nothing may be cut off: a display equation, code or printed output box
  // (or a theorem/exercise box holding them) that scrolls sideways hides part of itself.
  const cut = [];
  if (vw >= 1200) {
    const boxes = 'mjx-container[display="true"], .bd-article pre, .bd-article div.proof, '
      + '.bd-article div.admonition, .bd-article div.exercise, .bd-article div.solution';
    for (const el of document.querySelectorAll(boxes)) {
      if (!visible(el) || el.scrollWidth <= el.clientWidth + 1) continue;
      if (cut.some(o => o.el.contains(el) || el.contains(o.el))) continue;
      cut.push({el, text: describe(el) + ` (${el.scrollWidth - el.clientWidth} px of `
                + `${el.scrollWidth} hidden)`});
    }
  }
  return {
    cut: cut.map(o => o.text),
    title: document.title,
    merrors: [...document.querySelectorAll('mjx-merror')].map(describe),
    texts, images, figures, links,
    overflow: overflow.map(o => o.text),
    pageWidth: document.documentElement.scrollWidth, vw,
  };
}
"""


def site_pages() -> list[str]:
    skip = ("_static/", "_sources/", "_images/")
    return sorted(p.relative_to(HTML).as_posix() for p in HTML.rglob("*.html")
                  if not p.relative_to(HTML).as_posix().startswith(skip))


@functools.lru_cache(maxsize=None)
def ids_of(path: Path) -> frozenset:
    text = path.read_text(encoding="utf-8", errors="replace")
    return frozenset(html_lib.unescape(m) for m in
                     re.findall(r"""\b(?:id|name)=["']([^"']+)["']""", text))


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True


class Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
@per_worker
def site(built):
    handler = functools.partial(Quiet, directory=str(HTML))
    server = Server(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
@per_worker
def browser():
    with sync_playwright() as pw:
        try:
            b = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        except Exception as exc:  # pragma: no cover - depends on the machine
            pytest.skip(f"no browser: {CHROMIUM} does not start ({str(exc).splitlines()[0]})")
        yield b
        b.close()


def local_file(url: str, base: str) -> Path | None:
    """The file of the built site that a URL names, or None if the URL is not in the site."""
    parts = urlsplit(url)
    if url.startswith(base):
        rel = unquote(parts.path)[len(urlsplit(base).path):]
        path = HTML / rel
    elif parts.scheme == "file":
        path = Path(unquote(parts.path))
        try:
            path.resolve().relative_to(HTML.resolve())
        except ValueError:
            return None
    else:
        return None
    if path.is_dir() or str(path).endswith("/"):
        path = path / "index.html"
    return path


@dataclass
class Visit:
    """What one load of one page found: the problems of the INSPECT sweep and, where asked,
    the page's figures (with, on a phone, what a tap on a small one shows) and its notebook
    links and code cells."""
    problems: list[str] = field(default_factory=list)
    figures: list[dict] = field(default_factory=list)
    notebook: dict | None = None


def visit(browser, url: str, base: str, width: int, shot: Path | None = None, *,
          figures: bool = False, notebook: bool = False) -> Visit:
    """Load a page once and run every check that needs it loaded: a chapter's MathJax and
    figures take seconds to render, so each page is loaded once per origin and width, not
    once per test."""
    found = Visit()
    problems = found.problems
    context = browser.new_context(viewport={"width": width, "height": 900},
                                  has_touch=width < 992, service_workers="block")
    # A chapter (MathJax, dozens of figures, a full-page screenshot) can take longer than
    # Playwright's default 30 s on a busy CI machine.
    context.set_default_timeout(180_000)
    page = context.new_page()

    def route(r):
        u = r.request.url
        if u.startswith(base) or u.startswith(("data:", "blob:")) or (
                base.startswith("file:") and local_file(u, base) is not None):
            r.continue_()
        else:
            problems.append(f"request outside the site (blocked): {u}")
            r.abort()

    page.route("**/*", route)
    page.on("console", lambda m: m.type == "error" and problems.append(
        f"console error: {m.text[:300]}"))
    page.on("pageerror", lambda e: problems.append(f"page error: {str(e)[:300]}"))
    page.on("requestfailed", lambda r: r.url.startswith(base) and problems.append(
        f"failed to load {r.url}: {r.failure}"))
    source = local_file(url, base)
    if re.search(r"http-equiv=.refresh", source.read_text(encoding="utf-8", errors="replace"),
                 re.I):  # index.html redirects to the intro: check where it lands
        page.goto(url, wait_until="commit")
        page.wait_for_url(lambda u: u != url, wait_until="load")
    else:
        resp = page.goto(url, wait_until="load")
        if resp is not None and not resp.ok:
            problems.append(f"HTTP {resp.status} for {url}")
    info = page.evaluate(INSPECT)

    problems += [f"MathJax error at {e}" for e in info["merrors"]]
    for section, text in info["texts"]:
        for m in LEFTOVER_TEX.finditer(text):
            lo = max(0, m.start() - 40)
            problems.append(f"leftover TeX {m.group()!r} in #{section}: "
                            f"{text[lo:m.end() + 40]!r}")
            break
    for img in info["images"]:
        where = img["where"]
        if not img["ok"]:
            problems.append(f"image did not load: {img['src']} ({where})")
        alt = (img["alt"] or "").strip()
        if not alt or re.search(r"\.(png|jpe?g|svg|gif)$|^[\w./-]+/[\w.-]+$", alt):
            problems.append(f"image without real alt text ({alt!r}): {img['src']}")
        if not img["caption"]:
            problems.append(f"image without a figure caption: {img['src']} ({where})")
    problems += [f"figure without a caption: {f}" for f in info["figures"]]
    for href in info["links"]:
        target = local_file(href, base)
        if target is None:
            continue
        if not target.is_file():
            problems.append(f"broken link {href} (no file {target})")
            continue
        frag = unquote(urlsplit(href).fragment)
        if frag and target.suffix == ".html" and frag not in ids_of(target):
            problems.append(f"broken anchor {href} (no id {frag!r} in {target.name})")
    problems += [f"wider than the {width} px viewport and not scrollable: {o}"
                 for o in info["overflow"]]
    problems += [f"cut off at {width} px (scrolls sideways): {c}" for c in info["cut"]]
    if width < 600 and info["pageWidth"] > info["vw"] + 1:
        problems.append(f"the page scrolls sideways: {info['pageWidth']} px > {info['vw']} px")
    if shot is not None:
        shot.parent.mkdir(parents=True, exist_ok=True)
        # JPEG: a chapter is 30,000 px tall, and encoding it as PNG costs as much as loading it.
        page.screenshot(path=str(shot), full_page=True, type="jpeg", quality=80)
    if notebook:
        found.notebook = page.evaluate(PAGE_NOTEBOOK_JS)
    if figures:
        found.figures = measure_figures(page, source, width)
    page.unroute_all(behavior="ignoreErrors")
    context.close()
    return found


# What each sweep found, kept for the worker's session: the tests reading one sweep share an
# xdist group (`on_sweep`), so each sweep runs once, and different sweeps on different workers.
_SWEEPS: dict = {}


def sweep(browser, site: str, origin: str, width_name: str) -> dict[str, Visit]:
    """Every page of the site visited once, over HTTP or from file://, at one width. Over HTTP
    a visit also measures the figures, reads the notebook links and takes the screenshot."""
    key = (origin, width_name)
    if key not in _SWEEPS:
        over_http = origin == "http"
        base = site if over_http else HTML.resolve().as_uri() + "/"
        pages = site_pages()
        assert any(p.startswith("chapters/") for p in pages), pages
        _SWEEPS[key] = {
            rel: visit(browser, base + rel, base, WIDTHS[width_name],
                       SHOTS / f"{rel[:-5].replace('/', '__')}-{width_name}.jpg"
                       if over_http else None,
                       figures=over_http and rel.startswith("chapters/"),
                       notebook=over_http and width_name == "desktop"
                       and rel.startswith(("chapters/", "exercises/")))
            for rel in pages}
    return _SWEEPS[key]


def on_sweep(origin: str, width_name: str):
    """A test parameter naming the sweep it reads, in that sweep's xdist group."""
    return pytest.param(width_name, id=width_name,
                        marks=pytest.mark.xdist_group(f"browser-{origin}-{width_name}"))


def assert_no_problems(visits: dict[str, Visit]) -> None:
    report = [f"{rel}: {problem}" for rel, v in visits.items() for problem in v.problems]
    assert not report, f"{len(report)} problem(s):\n" + "\n".join(report[:150])


@pytest.mark.parametrize("width", [on_sweep("http", w) for w in WIDTHS])
def test_pages_over_http(browser, site, width):
    assert_no_problems(sweep(browser, site, "http", width))


@pytest.mark.parametrize("width", [on_sweep("file", w) for w in WIDTHS])
def test_pages_from_file(browser, site, width):
    assert_no_problems(sweep(browser, site, "file", width))


def test_search_finds_pages_with_clean_excerpts(browser, site):
    """A search for a chapter's topic lists the chapter, and no excerpt shows a source name."""
    context = browser.new_context(viewport={"width": 1366, "height": 900})
    page = context.new_page()
    errors = []
    page.on("console", lambda m: m.type == "error" and errors.append(m.text))
    page.route("**/*", lambda r: r.continue_() if r.request.url.startswith(site) else r.abort())
    page.goto(site + "search.html?q=entropy", wait_until="load")
    page.wait_for_selector("#search-results li", timeout=20000)
    # excerpts arrive one fetch per hit
    page.wait_for_function("[...document.querySelectorAll('#search-results li')]"
                           ".every(li => li.querySelector('p.context, span'))", timeout=20000)
    items = page.eval_on_selector_all(
        "#search-results li", "els => els.map(e => e.innerText)")
    page.unroute_all(behavior="ignoreErrors")
    context.close()
    assert not errors, errors
    assert any("Entropy" in i for i in items), items
    bad = [i for i in items if re.search(r"\.\.\.\.?\w*\.(md|ipynb)\b|\b\w+\.md\b", i)]
    assert not bad, bad


# --------------------------------------------------------------------------------------------
# Interaction, figures, accessibility and search: each on a few pages, at the widths that matter.

CHAPTER = "chapters/04_cnn.html"  # long title, wide figures, long equations, exercises
AXE = Path(__file__).parent / "vendor" / "axe-core" / "axe.min.js"


def open_page(browser, site: str, rel: str, width: int, height: int = 844):
    """A page of the site with requests outside it blocked, and its console errors."""
    context = browser.new_context(viewport={"width": width, "height": height},
                                  has_touch=width < 992, service_workers="block")
    context.set_default_timeout(180_000)
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda m: m.type == "error" and errors.append(m.text))
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.route("**/*", lambda r: r.continue_() if r.request.url.startswith(site)
               else r.abort())
    page.goto(site + rel, wait_until="load")
    page.evaluate("async () => { if (window.MathJax && MathJax.startup) "
                  "await MathJax.startup.promise; }")
    return context, page, errors


@pytest.mark.parametrize("width", [390, 800])
def test_phone_and_tablet_menus_open_when_tapped(browser, site, width):
    """The visible ☰ and "Contents" buttons open the chapter list and the page contents."""
    context, page, errors = open_page(browser, site, CHAPTER, width)
    try:
        for button, dialog, inside in [
                (".primary-toggle", "#pst-primary-sidebar-modal", "a[href*='05_rnn']"),
                (".secondary-toggle", "#pst-secondary-sidebar-modal", "a[href^='#']")]:
            visible = [b for b in page.query_selector_all(button) if b.is_visible()]
            assert visible, f"no visible {button} at {width} px"
            for b in visible:
                b.tap()
                page.wait_for_timeout(300)
                is_open = page.eval_on_selector(dialog, "d => d.open")
                assert is_open, (f"tapping the visible {button} at {width} px does not open "
                                 f"{dialog}")
                links = page.query_selector_all(f"{dialog} {inside}")
                assert any(a.is_visible() for a in links), f"{dialog} opened empty"
                page.keyboard.press("Escape")
                page.wait_for_timeout(200)
                assert not page.eval_on_selector(dialog, "d => d.open")
    finally:
        context.close()
    assert not errors, errors


def test_desktop_toggle_collapses_the_sidebar(browser, site):
    context, page, errors = open_page(browser, site, CHAPTER, 1366, 900)
    try:
        page.click(".bd-header-article .primary-toggle")
        page.wait_for_timeout(300)
        hidden = page.eval_on_selector("#pst-primary-sidebar",
                                       "s => s.getBoundingClientRect().width < 5 || "
                                       "s.classList.contains('pst-sidebar-hidden')")
        assert hidden, "the ☰ button does not collapse the chapter list at 1366 px"
    finally:
        context.close()
    assert not errors, errors


def test_solution_bar_opens_the_solution_when_tapped(browser, site):
    """A tap in the middle of "Solution to Exercise N" opens it, and does not jump away."""
    context, page, errors = open_page(browser, site, CHAPTER, 390)
    try:
        title = page.query_selector(".solution.dropdown > .admonition-title")
        assert title is not None
        title.scroll_into_view_if_needed()
        box = title.bounding_box()
        assert box["height"] >= 40, f"solution bar only {box['height']:.0f} px high"
        before = page.url
        page.touchscreen.tap(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
        page.wait_for_timeout(400)
        assert page.url == before, f"the tap followed a link to {page.url}"
        shown = page.eval_on_selector(".solution.dropdown > .admonition-title",
                                      "t => !t.parentElement.classList.contains('toggle-hidden')"
                                      " && [...t.parentElement.children].slice(1)"
                                      ".some(c => c.offsetHeight > 0)")
        assert shown, "the solution did not open"
    finally:
        context.close()
    assert not errors, errors


# Smallest text in any plotted figure, in points: docs/PAGE_CONVENTIONS.md asks for >= 8 pt and
# test_figure_font_sizes_in_sources holds the chapters to it.
MIN_FONT_PT = 8
MIN_LABEL_PX = {"desktop": 11, "phone": 9}


def png_dpi(path: Path) -> float:
    """The resolution matplotlib wrote into the PNG (pHYs chunk), in dots per inch."""
    data = path.read_bytes()
    i = data.find(b"pHYs")
    assert i > 0, f"{path.name}: no pHYs chunk, the figure's dpi is unknown"
    ppm = int.from_bytes(data[i + 4:i + 8], "big")
    assert data[i + 12] == 1, f"{path.name}: pHYs not in metres"
    return ppm * 0.0254


def test_figure_font_sizes_in_sources():
    """No chapter draws text smaller than MIN_FONT_PT (the figure test assumes it)."""
    bad = []
    for md in sorted((ROOT / "chapters").glob("*.md")):
        for n, line in enumerate(md.read_text(encoding="utf-8").splitlines(), 1):
            for m in re.finditer(r"(?:fontsize|font\.size|labelsize)[\"']?\s*[=:]\s*"
                                 r"[\"']?([\w.]+)", line):
                v = m.group(1)
                small = v in ("xx-small", "x-small", "small", "smaller")
                if small or (v.replace(".", "").isdigit() and float(v) < MIN_FONT_PT):
                    bad.append(f"{md.name}:{n}: {line.strip()}")
    assert not bad, "figure text below 8 pt:\n" + "\n".join(bad)


FIGURES_JS = r"""
async () => {
  const imgs = [...document.querySelectorAll('.bd-article figure img, .cell_output img')];
  await Promise.all(imgs.map(i => { i.loading = 'eager'; return i.decode().catch(() => {}); }));
  return imgs.map(i => ({src: i.getAttribute('src'), natural: i.naturalWidth,
                         shown: i.getBoundingClientRect().width}));
}
"""


def measure_figures(page, source: Path, width: int) -> list[dict]:
    """Each figure's smallest label in CSS px (from its pixel size, dpi and the 8 pt minimum)
    and, on a phone when that is below the phone's minimum, in CSS px once tapped open."""
    phone = width < 600
    found = []
    for k, f in enumerate(page.evaluate(FIGURES_JS)):
        path = source.parent / unquote(f["src"])
        scale = MIN_FONT_PT * png_dpi(path) / 72 / f["natural"]
        fig = {"name": path.name[:12], "label": scale * f["shown"], "shown": f["shown"],
               "natural": f["natural"], "tapped": None}
        if phone and fig["label"] < MIN_LABEL_PX["phone"]:
            img = page.query_selector_all(".bd-article figure img, .cell_output img")[k]
            img.scroll_into_view_if_needed()
            img.tap()
            page.wait_for_timeout(250)
            big = page.evaluate("() => { const d = document.querySelector("
                                "'dialog.course-figure-viewer'); if (!d || !d.open) "
                                "return 0; return d.querySelector('img')"
                                ".getBoundingClientRect().width; }")
            fig["tapped"] = (big, scale * big)
            page.keyboard.press("Escape")
            page.wait_for_timeout(100)
        found.append(fig)
    return found


@pytest.mark.parametrize("width_name", [on_sweep("http", w) for w in WIDTHS])
def test_figure_labels_are_legible(browser, site, width_name):
    """Every figure's smallest label, from its pixel size, dpi and the 8 pt minimum, is at least
    11 CSS px at 1366 px; on a phone at least 9 px, or a tap opens it at full size."""
    visits = sweep(browser, site, "http", width_name)
    chapters = {rel: v for rel, v in visits.items() if rel.startswith("chapters/")}
    assert chapters and any(v.figures for v in chapters.values()), "no figure measured"
    small, no_viewer = [], []
    for rel, v in chapters.items():
        for f in v.figures:
            if f["label"] >= MIN_LABEL_PX[width_name]:
                continue
            if width_name == "desktop":
                small.append(f"{rel} {f['name']}: {f['label']:.1f} px ({f['shown']:.0f} "
                             f"of {f['natural']} px shown)")
            elif f["tapped"] is None or f["tapped"][1] < MIN_LABEL_PX["desktop"]:
                big = f["tapped"][0] if f["tapped"] else 0
                no_viewer.append(f"{rel} {f['name']}: {f['label']:.1f} px, and a tap "
                                 f"shows it at {big:.0f} of {f['natural']} px")
    assert not small, "figure labels below 11 px at 1366 px:\n" + "\n".join(small)
    assert not no_viewer, "\n".join(no_viewer)


AXE_JS = r"""
async () => {
  const r = await axe.run(document, {resultTypes: ['violations']});
  return r.violations.filter(v => v.impact === 'serious' || v.impact === 'critical')
    .map(v => `${v.id} (${v.impact}): ${v.help} at ` + v.nodes.slice(0, 3)
         .map(n => n.target.join(' ')).join(' | ') + ` (${v.nodes.length} nodes)`);
}
"""


@pytest.mark.parametrize("width_name", list(WIDTHS))
def test_no_serious_accessibility_violations(browser, site, width_name):
    """axe-core (vendored, tests/vendor/axe-core) finds nothing serious or critical."""
    rels = ["intro.html", CHAPTER, "chapters/01_information.html", "glossary.html",
            "bibliography.html", "exercises/03_backprop.html", "search.html"]
    report = []
    for rel in rels:
        context, page, errors = open_page(browser, site, rel, WIDTHS[width_name], 900)
        try:
            page.add_script_tag(path=str(AXE))
            report += [f"{rel}: {v}" for v in page.evaluate(AXE_JS)]
        finally:
            context.close()
    assert not report, "\n".join(report)


def search(browser, site: str, query: str) -> list[dict]:
    context, page, errors = open_page(browser, site, f"search.html?q={query}", 1366, 900)
    try:
        page.wait_for_selector("#search-results li", timeout=20000)
        page.wait_for_function("[...document.querySelectorAll('#search-results li')]"
                               ".every(li => li.querySelector('p.context, span'))",
                               timeout=20000)
        page.wait_for_timeout(100)  # our link fix runs as a microtask after the excerpt
        items = page.eval_on_selector_all(
            "#search-results li", "els => els.map(e => ({text: e.innerText, "
            "href: e.querySelector('a').getAttribute('href')}))")
    finally:
        context.close()
    assert not errors, errors
    return items


def test_search_excerpts_have_no_tex_or_notebook_clutter(browser, site):
    bad = []
    for query in ("softmax", "entropy", "gradient"):
        for item in search(browser, site, query):
            text = item["text"]
            if LEFTOVER_TEX.search(text) or re.search(r"code cell source|Toggle hidden", text):
                bad.append(f"{query}: {text[:200]!r}")
    assert not bad, "\n".join(bad)


@pytest.mark.parametrize("query,term", [("熵", "entropy"), ("交叉熵", "cross-entropy")])
def test_chinese_glossary_names_lead_to_the_term(browser, site, query, term):
    items = search(browser, site, query)
    hits = [i for i in items if "glossary" in i["href"]]
    assert hits, items
    assert all("#term-" in i["href"] for i in hits), hits
    target = urlsplit(hits[0]["href"]).fragment
    dts = (HTML / "glossary.html").read_text(encoding="utf-8")
    m = re.search(rf'<dt[^>]*id="{re.escape(target)}"[^>]*>(.*?)</dt>\s*<dd>(.*?)</dd>',
                  dts, re.S)
    assert m and query in m.group(2), f"{query} links to {target}, whose entry lacks it"


# --------------------------------------------------------------------------------------------
# Phone menus leave nothing behind; every notebook page can be run in the reader's own Jupyter.

@pytest.mark.parametrize("focused", [False, True], ids=["tapped", "tapped-and-focused"])
@pytest.mark.parametrize("kind", ["primary", "secondary"])
def test_no_tooltip_lingers_after_a_phone_menu_closes(browser, site, kind, focused):
    """Tapping ☰ or "Contents" at 390 px and closing the menu (Escape, which is what the
    phone's back gesture does to a dialog) left the button's tooltip on screen. `focused`:
    phone browsers focus a tapped button, and the theme gives it the focus back on close."""
    context, page, errors = open_page(browser, site, CHAPTER, 390)
    try:
        dialog = f"#pst-{kind}-sidebar-modal"
        button = next(b for b in page.query_selector_all(f".{kind}-toggle") if b.is_visible())
        if focused:
            button.focus()
        button.tap()
        page.wait_for_timeout(800)  # the tooltip shows after 500 ms
        assert page.eval_on_selector(dialog, "d => d.open"), f"{dialog} did not open"
        page.keyboard.press("Escape")
        page.wait_for_timeout(1000)
        assert not page.eval_on_selector(dialog, "d => d.open"), f"{dialog} did not close"
        shown = page.eval_on_selector_all(
            ".tooltip", "ts => ts.filter(t => t.classList.contains('show') && "
            "Number(getComputedStyle(t).opacity) > 0).map(t => t.textContent.trim())")
        assert not shown, f"tooltip still shown after the {kind} menu closed: {shown}"
    finally:
        context.close()
    assert not errors, errors


JUPYTERLAB = "http://localhost:8888/lab/tree/"
RUN_MENU = ".bd-header-article .dropdown-launch-buttons"

# The page's code cells as the reader sees them, and the run-it-yourself menu's links.
PAGE_NOTEBOOK_JS = r"""
() => ({
  code: [...document.querySelectorAll('.bd-article .cell .cell_input pre')]
    .map(p => p.textContent),
  links: [...document.querySelectorAll('.dropdown-launch-buttons .dropdown-menu a')]
    .map(a => ({text: a.textContent.trim(), href: a.href})),
})
"""


def _lines(code: str) -> list[str]:
    return [line.rstrip() for line in code.strip().splitlines()]


def notebook_pages() -> list[str]:
    return [p for p in site_pages() if p.startswith(("chapters/", "exercises/"))]


@pytest.mark.xdist_group("browser-http-desktop")
def test_every_notebook_page_offers_its_notebook_and_a_local_jupyterlab(browser, site):
    """Each chapter and exercise page links to its notebook, a valid .ipynb holding the page's
    code cells, and to http://localhost:8888/lab/tree/<its file in the repository>."""
    import json
    import urllib.request

    import nbformat

    visits = sweep(browser, site, "http", "desktop")
    pages = notebook_pages()
    assert len(pages) >= 2 * len([p for p in pages if p.startswith("chapters/")]) > 0, pages
    problems = []
    for rel in pages:
        info = visits[rel].notebook
        links = {link["text"]: link["href"] for link in info["links"]}
        download, lab = links.get("Download notebook"), links.get("Open in your JupyterLab")
        if not download or not lab:
            problems.append(f"{rel}: no download/JupyterLab link in the rocket menu: {links}")
            continue
        # (a) the notebook, as served by the site
        try:
            with urllib.request.urlopen(download, timeout=60) as resp:
                text = resp.read().decode("utf-8")
        except OSError as exc:
            problems.append(f"{rel}: {download} -> {exc}")
            continue
        if not urlsplit(download).path.endswith(".ipynb"):
            problems.append(f"{rel}: {download} is not a notebook")
            continue
        nb = nbformat.reads(text, as_version=4)
        nbformat.validate(nb)
        json.loads(text)
        cells = [_lines(c.source) for c in nb.cells if c.cell_type == "code"]
        shown = [_lines(c) for c in info["code"]]
        missing = [c[:3] for c in shown if c not in cells]
        if not shown or missing:
            problems.append(f"{rel}: {len(missing)} of {len(shown)} code cells of the page "
                            f"not in its notebook, e.g. {missing[:1]}")
        # (b) the local JupyterLab link names the page's own file in the repository
        if not lab.startswith(JUPYTERLAB):
            problems.append(f"{rel}: JupyterLab link {lab}")
            continue
        in_repo = unquote(lab[len(JUPYTERLAB):])
        stem = rel[:-len(".html")]
        if not (ROOT / in_repo).is_file() or Path(in_repo).with_suffix("").as_posix() != stem:
            problems.append(f"{rel}: JupyterLab link to {in_repo}, not a file of this page")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("width", [1366, 390])
def test_run_menu_opens_on_desktop_and_phone(browser, site, width):
    """The rocket button is on screen and opens its menu, on an exercise and a chapter."""
    for rel in ("exercises/04_cnn.html", CHAPTER):
        context, page, errors = open_page(browser, site, rel, width, 900)
        try:
            toggle = page.query_selector(f"{RUN_MENU} > button")
            assert toggle is not None and toggle.is_visible(), f"no rocket button on {rel}"
            box = toggle.bounding_box()
            assert 0 <= box["x"] and box["x"] + box["width"] <= width, box
            toggle.tap() if width < 992 else toggle.click()
            page.wait_for_timeout(300)
            items = [a for a in page.query_selector_all(f"{RUN_MENU} .dropdown-menu a")
                     if a.is_visible()]
            assert [a.inner_text().strip() for a in items] == [
                "Download notebook", "Open in your JupyterLab"], rel
        finally:
            context.close()
        assert not errors, errors
