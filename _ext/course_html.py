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


def setup(app):
    app.connect("doctree-read", _include_nested_pages, priority=400)
    app.connect("html-page-context", _dedup_scripts, priority=900)
    app.connect("html-page-context", _default_mode)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
