r"""Checks the built HTML book in a real headless browser (Chromium through Selenium).

For every page in ``_toc.yml``, in a 1280 px wide window (and, for what must fit, a
390 px one), it checks that:

- the page loads with its title, every image has loaded, and, for each chapter, the
  Colab launch button opens that chapter's own ``.ipynb`` and "Edit this page" its
  ``.md`` text twin;
- the mathematics is typeset by MathJax (no raw ``$$``, ``\(`` or ``\[`` left in maths
  elements) and no Markdown table printed by a cell is left as plain text;
- no display equation, code block, cell input or cell output is wider than the main
  content column (it would need a scroll bar or stick out of the page); blocks inside
  collapsed "show code" toggles are opened and checked too;
- no documented object on the API page has the pass-through signature
  ``(*args, **kwargs)`` instead of its constructor's arguments;
- every image in the main content has alt text (Jupyter outputs without it get their
  file name as alt, which counts as none);
- no "checks passed" text is visible in the main content (the hidden assertion cells of
  the chapters must not print into the book);
- every citation and cross-reference resolved: an unresolved one is left as a
  ``.xref`` without a link, an empty ``.bibtex-citation`` (``[]``), a ``.problematic``
  role, a link to a page or anchor that does not exist, or a ``??`` / ``[?]`` in the
  text.

Each failure names the page and the element. It then saves screenshots (PNG) in
``_build/screenshots/``: the first page, the last chapter, chapter 4's ELBO derivation
and each figure of chapter 3.

Usage (after ``jupyter-book build .``)::

    python tools/check_book.py
    python tools/check_book.py --chromium /usr/bin/chromium --driver /usr/bin/chromedriver

The book is served from a local HTTP server on 127.0.0.1 for the duration of the check.
"""

from __future__ import annotations

import argparse
import builtins
import functools
import http.server
import re
import sys
import threading
from pathlib import Path

import yaml
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.support.ui import WebDriverWait

ROOT = Path(__file__).resolve().parent.parent
HTML = ROOT / "_build" / "html"
SCREENSHOTS = ROOT / "_build" / "screenshots"
sys.path.insert(0, str(Path(__file__).resolve().parent))
from prose import PENDING  # noqa: E402  (pages whose text is still being rewritten)

WIDTH, HEIGHT = 1280, 1600
PHONE_WIDTH = 390  # a phone held upright
ELBO_PAGE = "notebooks/04_deriving_the_vae"
FIGURES_PAGE = "notebooks/03_autoencoder_variants"
API_PAGE = "book/api"


def toc_pages() -> list[str]:
    """The document names of the table of contents, root first."""
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text(encoding="utf-8"))
    pages = [toc["root"]]
    for part in toc.get("parts", []):
        pages += [chapter["file"] for chapter in part["chapters"]]
    return [page.rsplit(".", 1)[0] if page.endswith((".md", ".ipynb")) else page for page in pages]


def serve(folder: Path) -> tuple[http.server.ThreadingHTTPServer, str]:
    """Serves ``folder`` on a free port of 127.0.0.1; returns the server and its URL."""

    class QuietHandler(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

    handler = functools.partial(QuietHandler, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


def browser(chromium: str, driver: str) -> webdriver.Chrome:
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        f"--window-size={WIDTH},{HEIGHT}",
    ):
        options.add_argument(flag)
    return webdriver.Chrome(service=Service(executable_path=driver), options=options)


# Helpers shared by the scripts below: the main content column, how to name an element
# in a failure (tag and classes, code cell number, section id), and visibility.
HELPERS = r"""
const article = document.querySelector('article.bd-article')
  || document.querySelector('main') || document.body;
const cells = Array.from(article.querySelectorAll('div.cell'));
const snippet = (text, n = 70) => {
  const t = (text || '').replace(/\s+/g, ' ').trim();
  return t.length > n ? t.slice(0, n - 1) + '\u2026' : t;
};
const describe = el => {
  const classes = Array.from(el.classList)
    .filter(c => c !== 'notranslate' && !/^CtxtMenu/.test(c)).slice(0, 2);
  const parts = [el.tagName.toLowerCase() + classes.map(c => '.' + c).join('')];
  const cell = el.closest('div.cell');
  if (cell) {
    // The cell's number among the page's code cells, and its first line of code if shown.
    const input = cell.querySelector('div.cell_input pre');
    const first = input ? input.textContent.split('\n').find(l => l.trim()) : '';
    const part = el.closest('div.cell_output') ? 'output of ' : el.closest('div.cell_input')
      ? 'input of ' : '';
    parts.push(`${part}code cell ${cells.indexOf(cell) + 1} of ${cells.length}`
      + (first ? ` (${JSON.stringify(snippet(first, 50))})` : ' (input hidden)'));
  }
  // On the API page: the documented object (function, class, method) it belongs to.
  const entry = el.closest('dl.py');
  const term = entry && entry.querySelector(':scope > dt[id]');
  if (term) parts.push(`in the entry of ${term.id}`);
  const section = el.closest('section[id]');
  if (section) parts.push(`in #${section.id}`);
  return parts.join(', ');
};
const visible = el => el.getClientRects().length > 0
  && (!el.checkVisibility || el.checkVisibility({visibilityProperty: true, opacityProperty: true}))
  && !el.closest('details:not([open]) > :not(summary)');
"""

# Waits for MathJax to finish typesetting (if the page uses it), then reports what can
# be seen in the page as it first shows (collapsed blocks stay collapsed).
INSPECT = (
    """
const done = arguments[arguments.length - 1];
const report = async () => {
"""
    + HELPERS
    + r"""
  const images = Array.from(document.images);
  const maths = Array.from(document.querySelectorAll('.math'));

  // Images of the main content without alt text. Docutils writes the file name as alt
  // when a notebook output has none, so an alt that is a file name counts as none.
  const noAlt = Array.from(article.querySelectorAll('img')).flatMap(img => {
    const alt = (img.getAttribute('alt') || '').trim();
    const file = decodeURIComponent((img.getAttribute('src') || '').split(/[?#]/)[0]
      .split('/').pop());
    const fileLike = alt === img.getAttribute('src') || alt.split('/').pop() === file
      || /\.(png|jpe?g|gif|svg|webp)$/i.test(alt);
    if (alt && !fileLike) return [];
    return [`${describe(img)}: ${file} has ${alt ? 'its file name as alt' : 'no alt'}`];
  });

  // Visible "checks passed" text: the innermost visible elements that show it.
  const passedRe = /checks?\s+passed/i;
  const shows = el => passedRe.test(el.innerText || '');
  const passed = Array.from(article.querySelectorAll('*'))
    .filter(el => visible(el) && shows(el)
      && !Array.from(el.children).some(c => visible(c) && shows(c)))
    .map(el => {
      const line = (el.innerText.split('\n').find(l => passedRe.test(l)) || '');
      return `${describe(el)}: "${snippet(line)}"`;
    });

  // Pass-through signatures of documented objects (autodoc read a __new__(*args, **kwargs)).
  const passThrough = Array.from(document.querySelectorAll('dt.sig'))
    .filter(dt => /\(\s*\*args\s*,\s*\*\*kwargs\s*\)/.test(dt.textContent))
    .map(dt => `${dt.id || snippet(dt.textContent)}${snippet(dt.textContent)
      .replace(/^.*?(\(.*?\)).*$/, '$1')}`);

  // Citations and cross-references that did not resolve. Sphinx leaves an unresolved
  // reference as its inner node (class "xref") without a link. Python names of other
  // libraries have no pages here on purpose (nitpick_ignore(_regex) in _config.yml, and
  // builtins), so a bare py xref that those cover is not counted.
  const [ignored, builtins] = arguments;
  const intended = x => {
    const role = Array.from(x.classList).find(c => /^py-/.test(c));
    const type = role ? role.replace('-', ':') : 'py:obj';
    const name = x.textContent.trim().replace(/\(\)$/, '').replace(/^~/, '');
    return builtins.includes(name) || ignored.some(([t, n]) =>
      new RegExp(`^(?:${t})$`).test(type) && new RegExp(`^(?:${n})$`).test(name));
  };
  const unresolved = [];
  for (const x of article.querySelectorAll('.xref')) {
    if (x.closest('a') || x.querySelector('a')) continue;
    if (x.classList.contains('py') && intended(x)) continue;
    const kind = Array.from(x.classList).filter(c => !['xref', 'docutils', 'literal',
      'notranslate'].includes(c)).join(' ');
    unresolved.push(`${describe(x)}: ${kind} reference "${snippet(x.textContent)}" has no link`);
  }
  for (const c of article.querySelectorAll('.bibtex-citation')) {
    if (!c.querySelector('a')) {
      unresolved.push(`${describe(c)}: citation "${snippet(c.textContent)}" has no link`);
    }
  }
  for (const p of article.querySelectorAll('.problematic, .system-message')) {
    unresolved.push(`${describe(p)}: unprocessed markup "${snippet(p.textContent)}"`);
  }
  // A Markdown link to a missing target keeps its link, to an id that exists nowhere:
  // every internal link of the main content must reach its page and its anchor.
  const pages = new Map();
  const here = location.origin + location.pathname;
  const fetchPage = page => {
    if (!pages.has(page)) {
      pages.set(page, page === here ? Promise.resolve(document) : fetch(page)
        .then(r => (r.ok ? r.text() : null))
        .then(t => (t === null ? null : new DOMParser().parseFromString(t, 'text/html')))
        .catch(() => null));
    }
    return pages.get(page);
  };
  await Promise.all(Array.from(article.querySelectorAll('a[href]')).map(async a => {
    const url = new URL(a.getAttribute('href'), location.href);
    if (url.origin !== location.origin || !/(\.html|\/)$/.test(url.pathname)) return;
    const target = await fetchPage(url.origin + url.pathname);
    const id = decodeURIComponent(url.hash.slice(1));
    const link = `${describe(a)}: link "${snippet(a.textContent)}" to a missing`;
    if (target === null) {
      unresolved.push(`${link} page ${url.pathname}`);
    } else if (id && !target.getElementById(id)) {
      unresolved.push(`${link} anchor ${url.pathname}${url.hash}`);
    }
  }));
  const walker = document.createTreeWalker(article, NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    if (!/\?\?|\[\?\]/.test(node.textContent)) continue;
    const el = node.parentElement;
    if (el.closest('pre, code, mjx-container, .math, script, style')) continue;
    unresolved.push(`${describe(el)}: placeholder in "${snippet(node.textContent)}"`);
  }
  // Maths source left as text (a glued string or generated Markdown with $...$ or a
  // TeX command, which only Markdown cells render): dollar pairs or backslash commands
  // outside code and typeset maths.
  const dollars = /\$[^$\s][^$]*\$/;
  const commands = /\\(?:frac|mathcal|mathbb|operatorname|log|cdot|sum|left|right|text)\b/;
  const greek = /\\(?:sigma|mu|lambda|beta|alpha|theta|phi)\b/;
  const texRe = {test: t => dollars.test(t) || commands.test(t) || greek.test(t)};
  const rawMaths = [];
  const textWalker = document.createTreeWalker(article, NodeFilter.SHOW_TEXT);
  for (let node = textWalker.nextNode(); node; node = textWalker.nextNode()) {
    if (!texRe.test(node.textContent)) continue;
    const el = node.parentElement;
    if (el.closest('pre, code, mjx-container, .math, script, style, .highlight')) continue;
    rawMaths.push(`${describe(el)}: "${snippet(node.textContent)}"`);
  }

  done({
    title: document.title,
    width: window.innerWidth,
    images: images.length,
    broken: images.filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.src),
    maths: maths.length,
    typeset: document.querySelectorAll('mjx-container').length,
    raw: maths.filter(m => /\$\$|\\\(|\\\[/.test(m.textContent)).length,
    // A Markdown table left as text ("| a | b | |---|---|", where the smart-quotes
    // transform may have turned "---" into an em or en dash) was not rendered.
    rawTables: Array.from(document.querySelectorAll('article p'))
      .filter(p => /\|\s*(-{3,}|\u2014|\u2013)\s*\|/.test(p.textContent)).length,
    colab: Array.from(document.querySelectorAll('a[href*="colab.research.google.com"]'))
      .map(a => a.href),
    edit: Array.from(document.querySelectorAll('a[href*="/edit/"]')).map(a => a.href),
    noAlt, passed, passThrough, unresolved, rawMaths,
  });
};
const run = () => report().catch(e => done({error: String(e && e.stack || e)}));
if (window.MathJax && MathJax.startup && MathJax.startup.promise) {
  MathJax.startup.promise.then(run, run);
} else { run(); }
"""
)

# Opens the collapsed blocks (a reader who clicks "show" must see them fit too), then
# reports every display equation, code block, cell input and cell output wider than
# the main content column: its content is wider than its box (a scroll bar) or its
# right edge passes the column's.
OVERFLOW = (
    HELPERS
    + r"""
// On a phone, a wide equation, code block or table may scroll inside its own box (the
// book's CSS gives equations a shadow at the edge that has more to show); only what
// passes the column itself, or makes the whole page scroll sideways, is a problem.
const phone = arguments.length > 0 && arguments[0] === true;
const collapsed = Array.from(article.querySelectorAll('details:not([open])'));
collapsed.forEach(d => { d.open = true; });
const column = article.getBoundingClientRect();
const tex = el => {
  try {
    const items = MathJax.startup.document.getMathItemsWithin(el);
    if (items.length) return items[0].math;
  } catch (e) { /* not typeset by MathJax 3 */ }
  return el.textContent;
};
const beyond = el => {
  const r = el.getBoundingClientRect();
  if (r.width === 0 && r.height === 0) return 0;
  return Math.max(r.right - column.right, column.left - r.left, 0);
};
const scrolls = el => (phone ? 0 : el.scrollWidth - el.clientWidth);
const found = [];
const flagged = [];
const flag = (el, what, px, detail) => {
  if (flagged.some(f => f.contains(el) || el.contains(f))) return;
  flagged.push(el);
  const hidden = collapsed.some(d => d.contains(el)) ? ' (inside a collapsed block)' : '';
  found.push(`${what} ${Math.round(px)} px wider than the column${hidden}: `
    + `${describe(el)}: ${detail}`);
};
// Display equations: the typeset SVG against the column, and the box's own scrolling.
for (const m of article.querySelectorAll('mjx-container[display="true"]')) {
  const content = phone ? m : m.querySelector(':scope > svg') || m;
  const px = Math.max(beyond(content), scrolls(m), m.parentElement ? scrolls(m.parentElement) : 0);
  if (px > 1) flag(m, 'display equation', px, `"${snippet(tex(m), 90)}"`);
}
for (const m of article.querySelectorAll('div.math')) {
  const px = Math.max(beyond(m), scrolls(m));
  if (px > 1) flag(m, 'display equation', px, `"${snippet(tex(m), 90)}"`);
}
// Code blocks (cell inputs, text outputs, literal blocks): a horizontal scroll bar.
for (const pre of article.querySelectorAll('div.highlight pre, pre')) {
  const px = Math.max(scrolls(pre), beyond(pre));
  if (px <= 1) continue;
  const lines = pre.textContent.split('\n');
  const longest = lines.reduce((a, b) => (b.length > a.length ? b : a), '');
  flag(pre, 'code block', px, `longest line (${longest.length} chars): "${snippet(longest, 90)}"`);
}
// Anything else in a cell's input or output (tables, images, widgets).
for (const part of article.querySelectorAll('div.cell_input, div.cell_output')) {
  for (const el of [part, ...part.querySelectorAll('*')]) {
    const overflowX = getComputedStyle(el).overflowX;
    const clips = ['auto', 'scroll', 'hidden'].includes(overflowX) ? scrolls(el) : 0;
    // On a phone, what is inside a box that scrolls sideways stays in that box.
    let boxed = false;
    for (let up = el.parentElement; phone && up && up !== part; up = up.parentElement) {
      boxed = boxed || ['auto', 'scroll'].includes(getComputedStyle(up).overflowX);
    }
    const px = boxed ? 0 : Math.max(clips, beyond(el));
    if (px > 1) {
      flag(el, 'cell content', px, `"${snippet(el.textContent || el.getAttribute('src'))}"`);
      break;
    }
  }
}
// Tables of the text (not in cells): the theme wraps them in a scrolling container.
if (phone) {
  for (const table of article.querySelectorAll('table')) {
    if (table.closest('div.cell')) continue;
    const box = table.closest('.pst-scrollable-table-container') || table;
    const px = beyond(box);
    if (px > 1) flag(table, 'table', px, `"${snippet(table.textContent)}"`);
  }
  const page = document.documentElement.scrollWidth - window.innerWidth;
  if (page > 1) found.push(`the whole page scrolls sideways by ${page} px`);
}
return {found, column: [Math.round(column.left), Math.round(column.right)]};
"""
)

# Finds the first display equation with "ELBO" near it (in its TeX, its section's
# heading or the paragraph just before or after it) and scrolls it to the upper third.
ELBO = (
    HELPERS
    + r"""
const near = m => {
  const block = m.closest('div.math') || m;
  let tex = '';
  try { tex = MathJax.startup.document.getMathItemsWithin(m)[0].math; } catch (e) { }
  const section = block.closest('section');
  const heading = section ? section.querySelector(':scope > h1, :scope > h2, :scope > h3') : null;
  return [tex, heading && heading.textContent, block.previousElementSibling
    && block.previousElementSibling.textContent, block.nextElementSibling
    && block.nextElementSibling.textContent].join(' ');
};
const equations = Array.from(article.querySelectorAll('mjx-container[display="true"]'));
const m = equations.find(e => /ELBO/.test(near(e)));
if (!m) return null;
m.scrollIntoView({block: 'center'});
window.scrollBy(0, Math.round(m.getBoundingClientRect().top - window.innerHeight / 3));
return describe(m);
"""
)


def intended_unresolved() -> list[list[str]]:
    """The (type, target) regular expressions of references left unresolved on purpose.

    They are the build's ``nitpick_ignore_regex`` and ``nitpick_ignore`` (escaped) from
    ``_config.yml``: names of other libraries, which have no pages in this offline book.
    """
    config = yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8"))
    sphinx_config = (config.get("sphinx") or {}).get("config") or {}
    pairs = [list(pair) for pair in sphinx_config.get("nitpick_ignore_regex", [])]
    pairs += [[re.escape(t), re.escape(n)] for t, n in sphinx_config.get("nitpick_ignore", [])]
    return pairs


def inspect_page(driver: webdriver.Chrome) -> dict:
    """Runs INSPECT on the page open in ``driver`` (after MathJax has typeset it)."""
    builtin_names = sorted(name for name in dir(builtins) if not name.startswith("_"))
    found = driver.execute_async_script(INSPECT, intended_unresolved(), builtin_names)
    if "error" in found:
        raise RuntimeError(f"the check's script failed: {found['error']}")
    return found


def check_page(driver: webdriver.Chrome, url: str, page: str) -> list[str]:
    """Returns the problems found on one page, each naming the page and the element."""
    load(driver, url, page)
    found = inspect_page(driver)
    problems = []
    if not found["title"] or "404" in found["title"]:
        problems.append(f"{page}: no title or not found ({found['title']!r})")
    if found["broken"]:
        problems.append(f"{page}: {len(found['broken'])} images did not load: {found['broken']}")
    if found["rawTables"]:
        problems.append(f"{page}: {found['rawTables']} Markdown tables shown as plain text")
    if found["raw"]:
        problems.append(f"{page}: {found['raw']} maths elements left untypeset")
    if found["maths"] and not found["typeset"]:
        problems.append(f"{page}: {found['maths']} maths elements but MathJax typeset none")
    if page.startswith("notebooks/"):
        expected = f"/blob/main/{page}.ipynb"
        if not found["colab"]:
            problems.append(f"{page}: no Colab launch button")
        elif not all(link.endswith(expected) for link in found["colab"]):
            problems.append(f"{page}: Colab button opens {found['colab']}, not {expected}")
        # "Edit this page" opens the chapter's text twin, the file people edit.
        twin = f"/edit/main/{page}.md"
        if not found["edit"] or not all(link.endswith(twin) for link in found["edit"]):
            problems.append(f"{page}: 'Edit this page' opens {found['edit']}, not {twin}")
    problems += [f"{page}: signature (*args, **kwargs): {s}" for s in found["passThrough"]]
    problems += [f"{page}: image without alt text: {s}" for s in found["noAlt"]]
    problems += [f"{page}: visible 'checks passed': {s}" for s in found["passed"]]
    problems += [f"{page}: unresolved reference: {s}" for s in found["unresolved"]]
    raw = [f"{page}: maths source shown as text: {s}" for s in found["rawMaths"]]
    if Path(page).name in PENDING:
        # A page tools/prose.py lists as pending: its generated text is being rewritten.
        for line in raw:
            print(f"pending: {line} ({PENDING[Path(page).name]})")
    else:
        problems += raw
    overflow = driver.execute_script(OVERFLOW)
    problems += [f"{page}: {s}" for s in overflow["found"]]
    problems += [f"{page}: at {PHONE_WIDTH} px: {s}" for s in phone_overflow(driver, url, page)]
    summary = (
        f"{page}: {found['images']} images, {found['typeset']} typeset formulas"
        + (f", Colab -> {found['colab'][0].split('/blob/main/')[-1]}" if found["colab"] else "")
        + f", window {found['width']} px, column {overflow['column'][0]}-{overflow['column'][1]} px"
    )
    print(("FAIL " if problems else "ok   ") + summary)
    return problems


def phone_overflow(driver: webdriver.Chrome, url: str, page: str) -> list[str]:
    """What passes the column on a phone-width window (the window is restored after)."""
    size = driver.get_window_size()
    inner = driver.execute_script("return [window.innerWidth, window.outerWidth];")
    driver.set_window_size(PHONE_WIDTH + inner[1] - inner[0], size["height"])
    try:
        load(driver, url, page)
        inspect_page(driver)  # waits for MathJax
        return driver.execute_script(OVERFLOW, True)["found"]
    finally:
        driver.set_window_size(size["width"], size["height"])


def load(driver: webdriver.Chrome, url: str, page: str) -> None:
    """Opens one page and waits for it to load."""
    driver.get(f"{url}/{page}.html")
    WebDriverWait(driver, 30).until(
        lambda d: d.execute_script("return document.readyState") == "complete"
    )


def screenshots(driver: webdriver.Chrome, url: str, pages: list[str]) -> list[str]:
    """Saves the screenshots; returns the problems met (a page or element not found)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    problems = []
    saved = []
    chapters = [page for page in pages if page.startswith("notebooks/")]
    for page in (pages[0], chapters[-1] if chapters else pages[-1]):
        load(driver, url, page)
        inspect_page(driver)
        path = SCREENSHOTS / (page.replace("/", "_") + ".png")
        driver.save_screenshot(str(path))
        saved.append(path)
    if ELBO_PAGE in pages:
        load(driver, url, ELBO_PAGE)
        inspect_page(driver)
        equation = driver.execute_script(ELBO)
        if equation is None:
            problems.append(f"{ELBO_PAGE}: no display equation with 'ELBO' near it")
        else:
            path = SCREENSHOTS / (ELBO_PAGE.replace("/", "_") + "_elbo.png")
            driver.save_screenshot(str(path))
            saved.append(path)
            print(f"ELBO derivation: {equation}")
    if FIGURES_PAGE in pages:
        load(driver, url, FIGURES_PAGE)
        inspect_page(driver)
        figures = driver.execute_script(
            "const a = document.querySelector('article.bd-article') || document.body;"
            "return Array.from(a.querySelectorAll('img'))"
            ".map(i => i.closest('figure') || i)"
            ".filter((f, k, all) => all.indexOf(f) === k && f.getClientRects().length > 0);"
        )
        if not figures:
            problems.append(f"{FIGURES_PAGE}: no figures to capture")
        for number, figure in enumerate(figures, start=1):
            path = SCREENSHOTS / f"{FIGURES_PAGE.replace('/', '_')}_figure_{number:02d}.png"
            driver.execute_script("arguments[0].scrollIntoView({block: 'center'});", figure)
            figure.screenshot(str(path))
            saved.append(path)
    for path in saved:
        print(f"screenshot: {path.relative_to(ROOT)}")
    return problems


def main() -> None:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    parser.add_argument("--driver", default="/usr/bin/chromedriver")
    args = parser.parse_args()
    if not (HTML / "index.html").is_file():
        sys.exit(f"{HTML / 'index.html'} is missing: run 'jupyter-book build .' first.")
    server, url = serve(HTML)
    driver = browser(args.chromium, args.driver)
    problems: list[str] = []
    pages = toc_pages()
    try:
        # The window's inner width, not its outer size, is what the layout sees.
        inner = driver.execute_script("return [window.innerWidth, window.outerWidth];")
        driver.set_window_size(WIDTH + inner[1] - inner[0], HEIGHT)
        for page in pages:
            problems += check_page(driver, url, page)
        problems += screenshots(driver, url, pages)
    finally:
        driver.quit()
        server.shutdown()
    for problem in problems:
        print(f"FAIL {problem}")
    failed = len({problem.split(":")[0] for problem in problems})
    print(f"browser: {len(pages) - failed} passed, {failed} failed")
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
