"""The built book in a real browser: every page, from a local HTTP server and from file://, at
desktop (1366 px) and phone (390 px) width, with every request outside the site blocked.

A page fails on a console error, a MathJax error, TeX left over in the rendered text, an image
that did not load or has no real alt text, an image or figure without a caption, a link to a
page or anchor of the site that does not exist, an element wider than a phone's viewport that
cannot be scrolled sideways, and any request that leaves the site. Screenshots of every page at
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
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

from tests.conftest import HTML, ROOT

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
SHOTS = ROOT / "_build" / "screenshots"
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
  return {
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
def site(built):
    shutil.rmtree(SHOTS, ignore_errors=True)  # only this build's pages
    handler = functools.partial(Quiet, directory=str(HTML))
    server = Server(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
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


def inspect(browser, url: str, base: str, width: int, shot: Path | None) -> list[str]:
    problems: list[str] = []
    context = browser.new_context(viewport={"width": width, "height": 900},
                                  service_workers="block")
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
    if width < 600 and info["pageWidth"] > info["vw"] + 1:
        problems.append(f"the page scrolls sideways: {info['pageWidth']} px > {info['vw']} px")
    if shot is not None:
        shot.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(shot), full_page=True)
    page.unroute_all(behavior="ignoreErrors")
    context.close()
    return problems


def check_site(browser, base: str, width_name: str, screenshots: bool) -> None:
    pages = site_pages()
    assert any(p.startswith("chapters/") for p in pages), pages
    report = []
    for rel in pages:
        shot = SHOTS / f"{rel[:-5].replace('/', '__')}-{width_name}.png" if screenshots else None
        url = base + rel
        for problem in inspect(browser, url, base, WIDTHS[width_name], shot):
            report.append(f"{rel}: {problem}")
    assert not report, f"{len(report)} problem(s):\n" + "\n".join(report[:150])


@pytest.mark.parametrize("width", list(WIDTHS))
def test_pages_over_http(browser, site, width):
    check_site(browser, site, width, screenshots=True)


@pytest.mark.parametrize("width", list(WIDTHS))
def test_pages_from_file(browser, built, width):
    check_site(browser, HTML.resolve().as_uri() + "/", width, screenshots=False)


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
