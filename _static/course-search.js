// Search excerpts for whole-page hits. Sphinx's searchtools takes the excerpt of a page without
// an anchor from the text of [role="main"], which in this theme begins with the download menu
// (".md", ".pdf"), so every whole-page hit read "....md". Take it from the article instead.
// Jupyter Book adds every _static/*.js to every page; this only acts where Search exists.
document.addEventListener("DOMContentLoaded", () => {
  if (typeof Search === "undefined" || !Search.htmlToText) return;
  const original = Search.htmlToText;
  Search.htmlToText = (htmlString, anchor) => {
    if (anchor) return original(htmlString, anchor);
    const doc = new DOMParser().parseFromString(htmlString, "text/html");
    for (const q of [".headerlink", "script", "style", ".cell_input", "nav"]) {
      doc.querySelectorAll(q).forEach((el) => el.remove());
    }
    const article = doc.querySelector('[role="main"] article') || doc.querySelector("article");
    if (article) return article.textContent.replace(/\s+/g, " ").trim();
    return original(htmlString, anchor);
  };
});
