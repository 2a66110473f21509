"""Print the single-page HTML book (`jupyter-book build . --builder singlehtml`) to a PDF.

Run by `python3 course.py pdf` inside the course's environment; needs only the `playwright`
package (dev extras) and a system Chromium, the same as tests/test_browser.py, and no network:
MathJax and every image come from the built site, and any other request is refused.

Why Chromium and not LaTeX: the book's pages are already checked in Chromium (MathJax, figures,
the CJK glossary names with the fonts the system has), and Debian's TeX Live with CJK support is
several hundred MB in CI. The PDF gets a bookmark outline from the headings (`outline=True`), a
contents list (the intro page's), and internal links that work (singlehtml turns every
cross-reference into an anchor of the one page).

    python _ext/course_pdf.py SINGLEHTML_DIR OUT.pdf
"""

from __future__ import annotations

import re
import shutil
import sys
from pathlib import Path

ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
# A4 with 12 mm margins is 703 CSS px at scale 1; at 0.85 the page lays out at 827 px, the
# width of the HTML book's text column at 1366 px, where no equation or code line is cut.
SCALE = 0.85
MARGIN = "12mm"


def chromium() -> str | None:
    return next(filter(None, map(shutil.which, ("chromium", "chromium-browser",
                                                "google-chrome"))), None)


def print_pdf(site: Path, out: Path) -> list[str]:
    """Write OUT from SITE/index.html; return the problems seen (console errors, blocked
    requests, boxes wider than the printed column)."""
    from playwright.sync_api import sync_playwright

    exe = chromium()
    if exe is None:
        raise SystemExit("[course] no Chromium on PATH: install it (apt-get install chromium)")
    # index.html only redirects (<meta http-equiv="Refresh">) to the root page of _toc.yml.
    index = (site / "index.html").resolve()
    target = re.search(r"url=([^\s\"'>]+)", index.read_text(encoding="utf-8"), re.I)
    if target:
        index = (site / target.group(1)).resolve()
    base = site.resolve().as_uri() + "/"
    problems: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=exe, args=ARGS, headless=True)
        page = browser.new_page(viewport={"width": 827, "height": 1100})
        # The whole book is one 2.5 MB page with ~100 figures and thousands of formulas.
        page.set_default_timeout(600_000)

        def route(r):
            if r.request.url.startswith((base, "data:", "blob:")):
                r.continue_()
            else:
                problems.append(f"request outside the book (blocked): {r.request.url}")
                r.abort()

        page.route("**/*", route)
        page.on("console", lambda m: m.type == "error" and not m.text.startswith(
            "Failed to load resource") and problems.append(f"console error: {m.text[:200]}"))
        # The theme links searchindex.js on every page; the single-page builder writes none.
        page.on("requestfailed", lambda r: r.url.startswith(base) and not r.url.endswith(
            "/searchindex.js") and problems.append(f"failed to load {r.url}"))
        page.emulate_media(media="print")
        page.goto(index.as_uri(), wait_until="load")
        page.evaluate("""async () => {
            if (window.MathJax && MathJax.startup) await MathJax.startup.promise;
            const imgs = [...document.images];
            await Promise.all(imgs.map(i => { i.loading = 'eager';
                                              return i.decode().catch(() => {}); }));
            await document.fonts.ready;
        }""")
        problems += page.evaluate("""() => {
            const out = [];
            const q = 'mjx-container[display="true"], pre, table, figure img, div.proof';
            for (const el of document.querySelectorAll(q)) {
              const r = el.getBoundingClientRect();
              if (r.width === 0) continue;
              if (el.scrollWidth > el.clientWidth + 1 || r.right > innerWidth + 1) {
                const sec = el.closest('section[id]');
                out.push(`wider than the page: <${el.tagName.toLowerCase()}> in #`
                         + `${sec ? sec.id : '?'}: ${(el.textContent || '').trim()
                         .slice(0, 60)}`);
              }
            }
            return out;
        }""")
        out.parent.mkdir(parents=True, exist_ok=True)
        page.pdf(path=str(out), format="A4", scale=SCALE, print_background=True,
                 margin={"top": MARGIN, "bottom": MARGIN, "left": MARGIN, "right": MARGIN},
                 outline=True, tagged=True, display_header_footer=True,
                 header_template="<span></span>",
                 footer_template='<div style="font-size:8px;width:100%;text-align:center">'
                                 '<span class="pageNumber"></span></div>')
        browser.close()
    return problems


def main(argv: list[str]) -> int:
    site, out = Path(argv[0]), Path(argv[1])
    problems = print_pdf(site, out)
    for p in problems:
        print(f"[course] pdf: {p}", file=sys.stderr)
    print(f"[course] wrote {out} ({out.stat().st_size // 1024} KiB)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
