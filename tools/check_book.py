r"""Checks the built HTML book in a real headless browser (Chromium through Selenium).

For every page in ``_toc.yml`` it checks that the page loads with its title, that the
mathematics is typeset by MathJax (no raw ``$$``, ``\(`` or ``\[`` left in maths
elements), that every image has loaded, that no Markdown table printed by a cell is
left as plain text, and, for each chapter, that the Colab launch
button opens that chapter's own ``.ipynb``. It saves screenshots of two pages.

Usage (after ``jupyter-book build .``)::

    python tools/check_book.py                 # screenshots in _build/browser-check/
    python tools/check_book.py --chromium /usr/bin/chromium --driver /usr/bin/chromedriver

The book is served from a local HTTP server on 127.0.0.1 for the duration of the check.
"""

from __future__ import annotations

import argparse
import functools
import http.server
import sys
import threading
from pathlib import Path

import yaml
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.support.ui import WebDriverWait

ROOT = Path(__file__).resolve().parent.parent
HTML = ROOT / "_build" / "html"
SCREENSHOTS = ROOT / "_build" / "browser-check"


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
        "--window-size=1280,1600",
    ):
        options.add_argument(flag)
    return webdriver.Chrome(service=Service(executable_path=driver), options=options)


# Waits for MathJax to finish typesetting (if the page uses it), then reports.
INSPECT = """
const done = arguments[arguments.length - 1];
const report = () => {
  const images = Array.from(document.images);
  const maths = Array.from(document.querySelectorAll('.math'));
  done({
    title: document.title,
    images: images.length,
    broken: images.filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.src),
    maths: maths.length,
    typeset: document.querySelectorAll('mjx-container').length,
    raw: maths.filter(m => /\\$\\$|\\\\\\(|\\\\\\[/.test(m.textContent)).length,
    // A Markdown table left as text ("| a | b | |---|---|", where the smart-quotes
    // transform may have turned "---" into an em or en dash) was not rendered.
    rawTables: Array.from(document.querySelectorAll('article p'))
      .filter(p => /\\|\\s*(-{3,}|\\u2014|\\u2013)\\s*\\|/.test(p.textContent)).length,
    colab: Array.from(document.querySelectorAll('a[href*="colab.research.google.com"]'))
      .map(a => a.href),
  });
};
if (window.MathJax && MathJax.startup && MathJax.startup.promise) {
  MathJax.startup.promise.then(report, report);
} else { report(); }
"""


def check_page(driver: webdriver.Chrome, url: str, page: str) -> list[str]:
    """Returns the problems found on one page."""
    driver.get(f"{url}/{page}.html")
    WebDriverWait(driver, 30).until(
        lambda d: d.execute_script("return document.readyState") == "complete"
    )
    found = driver.execute_async_script(INSPECT)
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
    summary = f"{page}: {found['images']} images, {found['typeset']} typeset formulas" + (
        f", Colab -> {found['colab'][0].split('/blob/main/')[-1]}" if found["colab"] else ""
    )
    print(("FAIL " if problems else "ok   ") + summary)
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
        for page in pages:
            problems += check_page(driver, url, page)
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        chapters = [page for page in pages if page.startswith("notebooks/")]
        for page in (pages[0], chapters[-1] if chapters else pages[-1]):
            driver.get(f"{url}/{page}.html")
            driver.execute_async_script(INSPECT)
            path = SCREENSHOTS / (page.replace("/", "_") + ".png")
            driver.save_screenshot(str(path))
            print(f"screenshot: {path.relative_to(ROOT)}")
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
