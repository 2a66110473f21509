"""Lint of the chapter sources: one gradient notation, no words readers cannot resolve.

PAGE_CONVENTIONS ("Notation"): gradients are written with nabla and have the shape of
their variable; the partial sign is kept for Jacobians and for derivatives of non-loss
quantities. So a derivative *of the loss* (L, a per-step loss ell_t, the objective J)
written with a partial or a d is a gradient in the wrong notation, whatever it is taken
with respect to: an entry of a gradient is written (nabla_W L)_{kl}. The scanner reads
the whole page, code cells included, because axis labels and captions are rendered too.

Pages are written from study notes that readers never see; "the seed's loop" or "our
source notes" point at nothing (and "seeds" also means random seeds on the same pages).
"""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CHAPTERS = sorted((ROOT / "chapters").glob("*.md"))

# the numerator of a gradient: the loss L, a per-step loss \ell_t or the objective J
# (a bare \ell is chapter 01's log-likelihood of scalar parameters: partials are fine)
_LOSS = r"(?:L|J|\\ell_\{?[A-Za-z0-9]+\}?)"
GRADIENT_PATTERNS = {
    "\\frac{\\partial L}{\\partial X}": re.compile(
        r"\\frac\s*\{\s*\\partial\s*" + _LOSS + r"\s*\}\s*\{\s*\\partial"
    ),
    "\\partial L/\\partial X": re.compile(
        r"\\partial\s*" + _LOSS + r"\s*/\s*\\partial"
    ),
    "\\frac{dL}{dX}": re.compile(
        r"\\frac\s*\{\s*(?:\\mathrm\{d\}|d)\s*"
        + _LOSS
        + r"\s*\}\s*\{\s*(?:\\mathrm\{d\}|d)"
    ),
    # dL/dX and dJ/dw in prose, comments and labels (dY/dW names a Jacobian and is left
    # alone; array names such as dQ, dK alone are the code's names of gradients)
    "dL/dX": re.compile(r"(?<![A-Za-z\\])d(?:L|J|\\ell)\s*/\s*d[A-Za-z\\]"),
}

# words that refer to the unpublished source material
UNRESOLVABLE = re.compile(
    r"seed['’]s|seeds['’]|\bour (?:source )?notes\b|\bsource notes\b"
    r"|\bstudy notes\b"
    r"|\bthe seeds?\b(?! (?:of|for|to|=|in|\d))|\bseed notes\b",
    re.IGNORECASE,
)

def gradient_notation_problems(text):
    """(line number, pattern name, line) per gradient written with a partial or a d."""
    problems = []
    for number, line in enumerate(text.splitlines(), start=1):
        for name, pattern in GRADIENT_PATTERNS.items():
            if pattern.search(line):
                problems.append((number, name, line.strip()))
    return problems


def unresolvable_words(text):
    """(line number, word, line) for every reference to material readers cannot see."""
    return [
        (number, m.group(0), line.strip())
        for number, line in enumerate(text.splitlines(), start=1)
        for m in UNRESOLVABLE.finditer(line)
    ]


@pytest.mark.parametrize(
    "bad",
    [
        r"$\frac{\partial L}{\partial W} = X^\top G$",
        r"$\partial L/\partial x_i = \rho g_i$",
        r"$\partial L / \partial h_t$",
        r"G_T = \frac{\partial \ell_T}{\partial h_T}",
        r"$\frac{\partial \ell_t}{\partial h_t}$",
        r"\frac{\partial J}{\partial W_2} &= H^{\mathsf T}\Delta_2",
        r"$\frac{dL}{dw}$ and $\frac{\mathrm{d}L}{\mathrm{d}x}$",
        r'ax.set_ylabel(r"$|dL/dw|$")',
        "# upstream gradient dL/dY",
        "the gradient dL/dQ of the scores",
    ],
)
def test_scanner_flags_gradients_of_the_loss_written_with_partial_or_d(bad):
    assert gradient_notation_problems("fine line\n" + bad), bad


@pytest.mark.parametrize(
    "good",
    [
        r"$\nabla_W L = X^\top G$ and $(\nabla_x L)_i = \rho g_i$",
        r"$\partial h_t/\partial h_{t-1} = \operatorname{diag}(1 - h_t^2) W_h^\top$",
        r"$\frac{\partial y}{\partial x}$ is a Jacobian, outputs first",
        r"$\partial z_t/\partial h_{t-1} \approx 0$",
        r"$\partial E/\partial w_{ij}$",
        r"\frac{\partial\ell}{\partial\mu} = \frac{1}{\sigma^2}\sum_i (x_i - \mu)",
        "Write $dO = \\nabla_O L$; likewise $dP$, $dS$, $dQ$, $dK$, $dV$.",
        "dx, dh0, dWx, dWh, db = grads",
        "# entries of dY/dW: (N*M) x (D*M), a Jacobian",
        "the loss $L(\\theta)$ and the learning rate",
    ],
)
def test_scanner_accepts_nabla_jacobians_and_array_names(good):
    assert not gradient_notation_problems(good), good


@pytest.mark.parametrize(
    "bad",
    [
        "WRONG (the seed's loop): no normalisation",
        "the error in one of our source notes",
        "as our notes say",
        "The seed notes write the same recursion",
        "the seeds' formula",
        "One of the seeds this chapter draws on",
        "This is where the $A^\\top$ of the seed's formula belongs",
    ],
)
def test_scanner_flags_words_readers_cannot_resolve(bad):
    assert unresolvable_words(bad), bad


@pytest.mark.parametrize(
    "good",
    [
        "for each of the three random seeds, after 400 updates",
        "seeds = (1, 2, 3)",
        "rng = np.random.default_rng(seed=0)",
        "with random seed 0 it does solve the task; over seeds 0 to 5",
        "the seed of the generator fixes the draw",
    ],
)
def test_scanner_accepts_random_seeds(good):
    assert not unresolvable_words(good), good


def _counts(path):
    text = path.read_text(encoding="utf-8")
    return gradient_notation_problems(text), unresolvable_words(text)


@pytest.mark.parametrize("path", CHAPTERS, ids=[p.name for p in CHAPTERS])
def test_chapter_uses_nabla_for_gradients(path):
    problems, _ = _counts(path)
    listing = "\n".join(
        f"  {path.name}:{n}: [{name}] {line}" for n, name, line in problems
    )
    assert not problems, (
        "write gradients of the loss as \\nabla_X L (entries: (\\nabla_X L)_{ij}); "
        f"see docs/PAGE_CONVENTIONS.md, Notation:\n{listing}"
    )


@pytest.mark.parametrize("path", CHAPTERS, ids=[p.name for p in CHAPTERS])
def test_chapter_names_nothing_readers_cannot_see(path):
    _, words = _counts(path)
    listing = "\n".join(f"  {path.name}:{n}: '{w}' in: {line}" for n, w, line in words)
    assert not words, (
        "readers cannot see the source notes: describe the common mistake itself\n"
        + listing
    )


# An equation's label is for MyST only: `$$ (eq-x)` names it and {eq}`eq-x` cites it (as a
# number). Anywhere else (a docstring, a comment, a caption, a printed string) the reader sees
# the raw label "eq-x", which means nothing on the page.
LABEL_USES = re.compile(r"\{(?:eq|ref|numref)\}`[^`]*$|\$\$\s*\($|^\s*\($")
BARE_LABEL = re.compile(r"\b(?:[a-z0-9]+-)?eq-[a-z0-9][a-z0-9-]*")


def bare_equation_labels(text):
    """(line number, label, line) for each equation label shown as text."""
    found = []
    for number, line in enumerate(text.splitlines(), start=1):
        for m in BARE_LABEL.finditer(line):
            before = line[: m.start()]
            after = line[m.end():]
            if LABEL_USES.search(before) or (before.rstrip().endswith("(")
                                             and after.startswith(")=")):
                continue
            found.append((number, m.group(0), line.strip()))
    return found


@pytest.mark.parametrize("bad", ['"""Receptive field of eq-cnn-rf."""',
                                 "# heavy ball (ch07-eq-heavy-ball)",
                                 "caption: the size from eq. (eq-cnn-size)."])
def test_scanner_flags_bare_equation_labels(bad):
    assert bare_equation_labels(bad)


@pytest.mark.parametrize("good", ["$$ (eq-cnn-size)", "by {eq}`eq-cnn-size`, the size",
                                  "(eq-cnn-size)=", "a {numref}`see <eq-x>` link"])
def test_scanner_accepts_label_definitions_and_citations(good):
    assert not bare_equation_labels(good)


SOURCES = CHAPTERS + sorted((ROOT / "solutions").glob("*.ipynb"))


@pytest.mark.parametrize("path", SOURCES, ids=[p.name for p in SOURCES])
def test_no_equation_label_is_shown_as_text(path):
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".ipynb":  # the cells' text, not the JSON's escapes
        import json

        text = "\n".join("".join(c["source"]) for c in json.loads(text)["cells"])
    found = bare_equation_labels(text)
    assert not found, "cite equations with {eq}`label` (a number), not the raw label:\n" + \
        "\n".join(f"  {path.name}:{n}: {label} in: {line}" for n, label, line in found)
