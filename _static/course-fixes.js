// Fixes to the theme's behaviour, checked by tests/test_browser.py. Jupyter Book adds every
// _static/*.js to every page as a plain <script> in <head>, so this file runs before the page
// body exists.
//
// The DOM fixes run when the document becomes "interactive": the body is parsed but neither
// the deferred theme script (pydata-sphinx-theme.js) nor any DOMContentLoaded handler
// (sphinx-book-theme.js, togglebutton.js) has run yet. They must run first because those
// scripts bind their handlers to whatever `document.querySelector` finds at that moment.
(() => {
  "use strict";

  // 1. Phone/tablet navigation. The page carries two ☰ and two "Contents" buttons: the top
  //    bar's (pydata-sphinx-theme, always hidden under sphinx-book-theme) and the article
  //    header's (the visible ones). Both themes bind their click handlers to the first match,
  //    the hidden copy, so the visible buttons only showed a tooltip. Removing the hidden copies
  //    makes the visible ones the first match.
  const dropHiddenToggles = () => {
    for (const kind of ["primary-toggle", "secondary-toggle"]) {
      const visible = document.querySelector(`.bd-header-article .${kind}`);
      if (!visible) continue;
      document.querySelectorAll(`.bd-header .${kind}`).forEach((b) => b.remove());
    }
  };

  // 2. "Solution to Exercise N": the title held a link to the exercise, so a tap in the middle
  //    of the bar jumped up to the exercise instead of opening the solution. The exercise is
  //    right above; the title keeps its text and the whole bar opens the solution
  //    (togglebutton.js listens on the bar itself: course.css lets taps on its text through).
  const unlinkSolutionTitles = () => {
    document.querySelectorAll(".solution > .admonition-title a").forEach((a) => {
      const span = document.createElement("span");
      span.textContent = a.textContent;
      a.replaceWith(span);
    });
  };

  // togglebutton.js names every chevron "Toggle hidden content"; name it after its bar.
  document.addEventListener("DOMContentLoaded", () => setTimeout(() => {
    document.querySelectorAll(".dropdown > .admonition-title > button.toggle-button")
      .forEach((b) => {
        const text = b.parentElement.textContent.replace(/\s+/g, " ").trim();
        b.setAttribute("aria-label", text || "Show or hide");
      });
  }));

  // 3. Accessible names (axe-core: "button-name", "summary-name").
  const nameControls = () => {
    document.querySelectorAll(".bd-sidenav li.has-children > details > summary").forEach((s) => {
      const link = s.closest("li").querySelector(":scope > a");
      const title = link ? link.textContent.trim() : "this chapter";
      s.setAttribute("aria-label", `Pages under ${title}`);
      s.querySelectorAll("[role=presentation]").forEach((el) => el.removeAttribute("role"));
    });
    // myst-nb labels every folded cell "Toggle hidden content"; the visible text says more.
    // Without the label, the name is the visible "Show/Hide code cell source" span.
    document.querySelectorAll("details.hide > summary[aria-label]").forEach((s) => {
      s.removeAttribute("aria-label");
    });
    // axe-core "label-content-name-mismatch": a name must contain the visible text. The search
    // field shows "Search Ctrl+K" but was named "Search"; the colour-mode icons' titles
    // ("Light", "Dark") became the button's text, unlike its name "Color mode".
    document.querySelectorAll("button.search-button-field[aria-label]").forEach((b) => {
      b.removeAttribute("aria-label");
    });
    document.querySelectorAll(".theme-switch-button [title]").forEach((i) => {
      i.removeAttribute("title");
      i.setAttribute("aria-hidden", "true");
    });
    // sphinxcontrib-bibtex marks entries with the deprecated DPUB role doc-biblioentry.
    document.querySelectorAll('[role="doc-biblioentry"]').forEach((el) => {
      el.setAttribute("role", "listitem");
    });
  };

  // 4. Figures: a tap or click on a plotted figure opens it at full size in a dialog that
  //    scrolls (on a phone a figure is shrunk to the column; its labels become unreadable).
  //    Escape, the close button or a click on the backdrop closes it.
  let viewer = null;
  const openFigure = (img) => {
    if (!viewer) {
      viewer = document.createElement("dialog");
      viewer.className = "course-figure-viewer";
      viewer.setAttribute("aria-label", "Figure at full size");
      viewer.innerHTML = '<button type="button" class="course-figure-close" '
        + 'aria-label="Close the full-size figure">×</button><div class="course-figure-pane">'
        + "<img></div>";
      viewer.querySelector("button").addEventListener("click", () => viewer.close());
      viewer.addEventListener("click", (e) => { if (e.target === viewer) viewer.close(); });
      document.body.appendChild(viewer);
    }
    const big = viewer.querySelector("img");
    big.src = img.currentSrc || img.src;
    big.alt = img.alt;
    viewer.showModal();
  };
  const enlargeableFigures = () => {
    document.querySelectorAll(".bd-article figure img, .bd-article .cell_output img")
      .forEach((img) => {
        if (img.closest("a")) return;  // a linked image keeps its link
        img.classList.add("course-enlargeable");
        img.tabIndex = 0;
        img.setAttribute("role", "button");
        img.setAttribute("aria-label", `${img.alt || "Figure"} (opens at full size)`);
        img.addEventListener("click", () => openFigure(img));
        img.addEventListener("keydown", (e) => {
          if (e.key === "Enter" || e.key === " ") { e.preventDefault(); openFigure(img); }
        });
      });
  };

  // 5. On a phone, a tap on ☰ or "Contents" leaves the button "hovered" (a touch screen sends
  //    no mouseleave) and, in browsers that focus a tapped button, focused again when the menu
  //    closes; its tooltip then stayed on screen after the menu was closed by the back gesture
  //    or Escape. When a sidebar dialog closes, after the theme has given the focus back, the
  //    toggles are un-hovered, and blurred if the menu was opened by touch (a keyboard user
  //    keeps the focus, and its tooltip).
  let touched = false;
  document.addEventListener("pointerdown", (e) => { touched = e.pointerType !== "mouse"; },
                            true);
  const settleToggleTooltips = () => {
    for (const id of ["pst-primary-sidebar-modal", "pst-secondary-sidebar-modal"]) {
      const dialog = document.getElementById(id);
      if (!dialog) continue;
      dialog.addEventListener("close", () => setTimeout(() => {
        document.querySelectorAll(".primary-toggle, .secondary-toggle").forEach((b) => {
          if (touched && document.activeElement === b) b.blur();
          // Bootstrap's tooltip listens for mouseout with the pointer leaving the button.
          b.dispatchEvent(new MouseEvent("mouseout", { bubbles: true, relatedTarget: null }));
          const tip = window.bootstrap && window.bootstrap.Tooltip.getInstance(b);
          if (tip && document.activeElement !== b) tip.hide();
        });
      }));
    }
  };

  const run = () => {
    dropHiddenToggles();
    unlinkSolutionTitles();
    nameControls();
    enlargeableFigures();
    settleToggleTooltips();
  };
  if (document.readyState === "loading") {
    document.addEventListener("readystatechange", function once() {
      document.removeEventListener("readystatechange", once);
      run();
    });
  } else {
    run();
  }
})();
