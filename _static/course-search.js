// Search excerpts, checked by tests/test_browser.py. Jupyter Book adds every _static/*.js to
// every page; this only acts where Sphinx's Search exists (search.html).
//
// * Sphinx's searchtools takes the excerpt of a page without an anchor from the text of
//   [role="main"], which in this theme begins with the download menu (".md", ".pdf"), so every
//   whole-page hit read "....md". We take it from the article instead.
// * Excerpts are plain text of the HTML, where math is still TeX source (MathJax typesets it in
//   the browser) and folded code cells still hold their "Show code cell source" buttons, code and
//   printed output. We drop the notebook parts and turn TeX into readable symbols.
// * A glossary entry's Chinese name is in its definition, not its term, so Sphinx finds only the
//   page and linked to its top. We link the hit to the term whose definition matches.
document.addEventListener("DOMContentLoaded", () => {
  if (typeof Search === "undefined" || !Search.htmlToText) return;

  const SYMBOLS = {
    in: "∈", R: "ℝ", E: "𝔼", KL: "KL", le: "≤", leq: "≤", ge: "≥", geq: "≥", ne: "≠",
    neq: "≠", approx: "≈", to: "→", rightarrow: "→", mapsto: "↦", times: "×", cdot: "·",
    sum: "Σ", prod: "Π", int: "∫", infty: "∞", partial: "∂", nabla: "∇", sqrt: "√",
    alpha: "α", beta: "β", gamma: "γ", delta: "δ", epsilon: "ε", varepsilon: "ε", eta: "η",
    theta: "θ", lambda: "λ", mu: "μ", pi: "π", sigma: "σ", tau: "τ", phi: "φ", psi: "ψ",
    omega: "ω", Sigma: "Σ", Delta: "Δ", Theta: "Θ", ell: "ℓ", odot: "⊙", otimes: "⊗",
    top: "ᵀ", ldots: "…", dots: "…", cdots: "⋯", mid: "|", log: "log", exp: "exp",
    max: "max", min: "min", ll: "≪", sim: "∼", propto: "∝", langle: "⟨", rangle: "⟩",
  };
  // TeX source of one formula -> readable text: known commands become symbols, the other
  // commands (\mathbf, \left, \,) and the grouping braces disappear.
  const texToText = (tex) => tex
    .replace(/^\\[([]|\\[)\]]$/g, "")
    .replace(/\\([A-Za-z]+)/g, (m, name) => (name in SYMBOLS ? SYMBOLS[name] : " "))
    .replace(/\\[^A-Za-z]/g, " ")
    .replace(/[{}]/g, "")
    .replace(/\s*([_^])\s*/g, "$1")
    .replace(/[_^]/g, "")
    .replace(/\s+/g, " ")
    .trim();

  const clean = (doc) => {
    const drop = [".headerlink", "script", "style", "nav", ".cell_input", ".cell_output",
                  "details.hide > summary", ".toggle-button", ".toggle-hidden-text"];
    for (const q of drop) doc.querySelectorAll(q).forEach((el) => el.remove());
    doc.querySelectorAll(".math").forEach((el) => {
      el.textContent = ` ${texToText(el.textContent.trim())} `;
    });
  };
  const squash = (s) => s.replace(/\s+/g, " ").trim();

  Search.htmlToText = (htmlString, anchor) => {
    const doc = new DOMParser().parseFromString(htmlString, "text/html");
    clean(doc);
    if (anchor) {
      const part = doc.querySelector(`[role="main"] ${anchor}`);
      if (part) return squash(part.textContent);
    }
    const article = doc.querySelector('[role="main"] article') || doc.querySelector("article")
      || doc.querySelector('[role="main"]');
    return article ? squash(article.textContent) : "";
  };

  const summarise = Search.makeSearchSummary;
  Search.makeSearchSummary = (htmlText, keywords, anchor) => {
    const summary = summarise(htmlText, keywords, anchor);
    if (anchor || !summary) return summary;
    const doc = new DOMParser().parseFromString(htmlText, "text/html");
    clean(doc);
    const words = [...keywords].map((k) => k.toLowerCase()).filter(Boolean);
    const entries = [...doc.querySelectorAll("dl.glossary > dd")].map((dd) => {
      let dt = dd.previousElementSibling;
      while (dt && dt.tagName !== "DT") dt = dt.previousElementSibling;
      return [dt, dd];
    }).filter(([dt]) => dt && dt.id);
    const has = (el) => words.some((w) => el.textContent.toLowerCase().includes(w));
    // A term that names the word first, else a definition that contains it (a Chinese name).
    const found = entries.find(([dt]) => has(dt)) || entries.find(([, dd]) => has(dd));
    if (found) {
      const [dt, dd] = found;
      summary.textContent = squash(`${dt.textContent.replace("#", "")}: ${dd.textContent}`)
        .slice(0, 240);
      // The summary is appended to its result right after we return.
      queueMicrotask(() => {
        const link = summary.closest("li") && summary.closest("li").querySelector("a");
        if (link && !link.hash) link.hash = dt.id;
      });
    }
    return summary;
  };
});
