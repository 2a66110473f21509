"""Fixes to the HTML that Jupyter Book 1.x + Sphinx 7.4 write, loaded from _config.yml.

* Every script once. Two causes of duplicates, both found by tests/test_browser.py as console
  errors: (1) Sphinx 7.4 re-adds the scripts that extensions register after the builder starts
  (thebe's `THEBE_JS_URL`, togglebutton's selector) with filename '' where the first copy has
  None, so its de-duplication misses them; (2) Jupyter Book adds every `*.js` under `_static/` to
  every page, so the bundled MathJax was loaded a second time next to the one that
  `sphinx.ext.mathjax` adds (`Cannot set property Package`). We keep the first copy of each
  script in priority order, and MathJax only where the mathjax extension put it (pages with math).
* The theme's colour mode defaults to "auto" instead of "" (a console error on first visit).
* The contents list on the intro page (`{tableofcontents}`) also lists the pages nested under
  each chapter (its exercise notebook): Jupyter Book nests them through hidden toctrees, which
  a visible toctree leaves out unless it has `includehidden`.
* A code cell whose plotted figure is wider than the text column (~760 px at 1366 px) gets the
  cell tag `full-width`: sphinx-book-theme then lets it take the right margin on wide screens
  (hiding the page contents while it is on screen), so the figure is shown at its natural
  size and its 8 pt labels stay >= 11 CSS px (tests/test_browser.py).
* Run a page yourself, offline: every notebook page (a chapter, which myst-nb executes, and an
  exercise notebook) has a rocket menu in its header with "Download notebook" (the chapter as
  the .ipynb that myst-nb executed, outputs included, written next to its source in _sources/;
  an exercise's own .ipynb) and "Open in your JupyterLab", a link to
  http://localhost:8888/lab/tree/<the page's file in the repository>, which works once the
  reader runs `jupyter lab` in the repository root (intro.md, "Run the pages yourself";
  jupytext, a dependency, opens chapters/*.md as notebooks). Jupyter Book's launch buttons
  (Binder, JupyterHub, Colab, Thebe) all need an online service; the chapter's .ipynb also
  joins the theme's download menu, as it does when one of those is configured.
* Exercise notebooks are not numbered: in the numbered table of contents each one inherited a
  section number after its chapter's sections (4.14, headings 4.14.1 "1. Output size ...").
  The sidebar, the page title and its headings show no number; the chapter keeps its own.
* No domain index pages: sphinx-proof's `prf-prf.html` was built and linked from nowhere.
* The single-page builder (`python3 course.py pdf`): myst-nb and sphinx-jupyterbook-latex
  tell only the `html` builder how to write their nodes (HideCodeCellNode, HiddenCellNode), so
  `singlehtml` stopped on "unknown node type". It gets the same handlers.
"""

from __future__ import annotations


def _dedup_scripts(app, pagename, templatename, context, doctree):
    scripts = context.get("script_files")
    if not isinstance(scripts, list):
        return
    mathjax = app.config.mathjax_path
    seen, keep = set(), []
    for js in sorted(scripts, key=lambda j: j.priority):
        name = js.filename or ""
        body = js.attributes.get("body", "")
        # Jupyter Book's copy of the bundled MathJax: a plain <script>, without `defer`.
        if mathjax and name.endswith(mathjax) and "defer" not in js.attributes:
            continue
        key = (name, body)
        if key in seen:
            continue
        seen.add(key)
        keep.append(js)
    scripts[:] = keep  # the same list object is the template's and the builder's


def _default_mode(app, pagename, templatename, context, doctree):
    if not context.get("default_mode"):
        context["default_mode"] = "auto"


def _include_nested_pages(app, doctree):
    from sphinx import addnodes

    for node in doctree.findall(addnodes.toctree):
        if not node.get("hidden"):
            node["includehidden"] = True


# Widest figure (natural pixels) shown unscaled in the text column at 1366 px.
COLUMN_PX = 760


def _png_width(path) -> int:
    try:
        with open(path, "rb") as f:
            head = f.read(24)
    except OSError:
        return 0
    if head[:8] != b"\x89PNG\r\n\x1a\n":
        return 0
    return int.from_bytes(head[16:20], "big")


def _widen_figure_cells(app, doctree, docname):
    from pathlib import Path

    from docutils import nodes

    src = Path(app.srcdir)
    for image in doctree.findall(nodes.image):
        uri = image.get("candidates", {}).get("image/png") or image.get("uri", "")
        if _png_width(src / uri) <= COLUMN_PX:
            continue
        cell = image.parent
        while cell is not None and "cell" not in cell.get("classes", []):
            cell = cell.parent
        if cell is not None and "tag_full-width" not in cell["classes"]:
            cell["classes"].append("tag_full-width")


# The address of a JupyterLab started with `jupyter lab` (default port) in the repository root.
JUPYTERLAB = "http://localhost:8888/lab/tree/"


def _is_notebook_page(app, pagename) -> bool:
    return app.builder.name == "html" and "kernelspec" in app.env.metadata.get(pagename, {})


def _notebook_of(app, pagename: str) -> str | None:
    """The page's notebook in _sources/ (written here for a chapter), relative to _sources."""
    from pathlib import Path

    import nbformat
    from jupyter_cache import get_cache

    source = Path(app.env.doc2path(pagename))
    if source.suffix == ".ipynb":  # an exercise: Sphinx copies it to _sources/ itself
        return f"{pagename}{source.suffix}"
    config = app.env.mystnb_config
    executed = Path(config.output_folder) / f"{pagename}.ipynb"
    if not executed.is_file():
        return None
    nb = nbformat.read(executed, as_version=4)
    # myst-nb (1.4) writes that notebook without outputs when they came from the execution
    # cache: take them from the cache, as the page did.
    try:
        _, nb = get_cache(config.execution_cache_path).merge_match_into_notebook(nb)
    except KeyError:  # not in the cache (execution off): the notebook without outputs
        pass
    for build_only in ("source_map", "jupytext"):  # myst-nb's, not the reader's
        nb.metadata.pop(build_only, None)
    target = Path(app.outdir) / "_sources" / f"{pagename}.ipynb"
    target.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, target)
    return f"{pagename}.ipynb"


def _notebook_download(app, pagename, templatename, context, doctree):
    if not _is_notebook_page(app, pagename):
        return
    notebook = _notebook_of(app, pagename)
    context["course_notebook"] = notebook
    if notebook and not notebook.endswith(context.get("page_source_suffix") or ".ipynb"):
        context["ipynb_source"] = notebook  # the theme's download menu lists it too


def _run_it_yourself(app, pagename, templatename, context, doctree):
    from pathlib import Path

    notebook = context.get("course_notebook")
    if not notebook or "header_buttons" not in context:
        return
    in_repo = Path(app.env.doc2path(pagename)).relative_to(app.srcdir).as_posix()
    context["header_buttons"].insert(0, {
        "type": "group",
        "tooltip": "Run this page in your own Jupyter",
        "icon": "fas fa-rocket",
        "label": "launch-buttons",
        "buttons": [
            {"type": "link", "url": f"{context['pathto']('_sources', 1)}/{notebook}",
             "text": "Download notebook", "icon": "fas fa-download",
             "label": "course-notebook-button",
             "tooltip": "This page as a Jupyter notebook (.ipynb)"},
            {"type": "link", "url": JUPYTERLAB + in_repo,
             "text": "Open in your JupyterLab", "icon": "fas fa-laptop-code",
             "label": "jupyterlab-button",
             "tooltip": f"Opens {in_repo} in the JupyterLab you started with `jupyter lab` "
                        "in the course repository (see “Run the pages yourself”)"},
        ],
    })


def _unnumbered_exercises(app, env):
    """Exercise notebooks keep no section number (see the module docstring)."""
    from docutils import nodes

    for docname in list(env.toc_secnumbers):
        if docname.startswith("exercises/"):
            env.toc_secnumbers[docname] = {}
            for ref in env.tocs[docname].findall(nodes.reference):
                ref.attributes.pop("secnumber", None)
    return []


def _no_domain_indices(app, config):
    config.html_domain_indices = False


def _html_handlers_for_singlehtml(app):
    if app.builder.name != "singlehtml":
        return
    handlers = app.registry.translation_handlers
    single = handlers.setdefault("singlehtml", {})
    for name, pair in handlers.get("html", {}).items():
        single.setdefault(name, pair)


def setup(app):
    app.connect("builder-inited", _html_handlers_for_singlehtml)
    app.connect("config-inited", _no_domain_indices)
    app.connect("doctree-resolved", _widen_figure_cells)
    app.connect("doctree-read", _include_nested_pages, priority=400)
    app.connect("html-page-context", _dedup_scripts, priority=900)
    app.connect("html-page-context", _default_mode)
    # Before sphinx-book-theme makes its header buttons (priority 501), and after.
    app.connect("html-page-context", _notebook_download, priority=499)
    app.connect("html-page-context", _run_it_yourself, priority=502)
    # After Sphinx's TocTreeCollector has numbered the sections (priority 500).
    app.connect("env-get-updated", _unnumbered_exercises, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
