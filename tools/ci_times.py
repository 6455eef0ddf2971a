"""Where CI's time goes: the slowest tests and notebook cells, and time per chapter.

``.ci/run`` writes pytest's JUnit XML reports and calls this after each test stage::

    python tools/ci_times.py pytest REPORT.xml --budget 360
    python tools/ci_times.py nbval REPORT.xml --budget 180

It prints the ten slowest items and, for nbval, each notebook's total, with a warning
(never a failure: timings on a shared machine are noisy) for a stage or a notebook over
its budget in seconds, so that a budget is seen long before CI's hard limit is reached.
"""

from __future__ import annotations

import argparse
import sys
import xml.etree.ElementTree as ElementTree
from collections import defaultdict
from pathlib import Path


def read_cases(report: Path) -> list[tuple[str, str, float]]:
    """``(file, test name, seconds)`` for every test case in a JUnit XML report."""
    root = ElementTree.parse(report).getroot()
    cases = []
    for case in root.iter("testcase"):
        cases.append((_file_of(case), case.get("name", "?"), float(case.get("time", 0.0))))
    return cases


def _file_of(case: ElementTree.Element) -> str:
    """The file a JUnit test case names, from its class name when it has no file.

    ``tests.test_vae`` is ``tests/test_vae.py``; nbval's
    ``notebooks.04_deriving_the_vae.ipynb`` is ``notebooks/04_deriving_the_vae.ipynb``.
    """
    if case.get("file"):
        return case.get("file", "?")
    classname = case.get("classname", "?")
    if classname.endswith(".ipynb"):
        return classname[: -len(".ipynb")].replace(".", "/") + ".ipynb"
    return classname.replace(".", "/") + ".py"


def notebook_of(file: str, name: str) -> str:
    """The notebook a cell item belongs to (nbval names its items ``Cell N``)."""
    return file.rsplit("/", 1)[-1]


def report(kind: str, cases: list[tuple[str, str, float]], budget: float) -> list[str]:
    """Prints the summary and returns the warnings."""
    warnings = []
    total = sum(seconds for _, _, seconds in cases)
    print(f"{kind}: {len(cases)} items, {total:.0f} s in all")
    print(f"the 10 slowest {'cells' if kind == 'nbval' else 'tests'}:")
    for file, name, seconds in sorted(cases, key=lambda case: -case[2])[:10]:
        where = notebook_of(file, name) if kind == "nbval" else file
        print(f"  {seconds:7.1f} s  {where}::{name.split('::')[-1]}")
    if kind == "nbval":
        per_notebook: dict[str, float] = defaultdict(float)
        for file, name, seconds in cases:
            per_notebook[notebook_of(file, name)] += seconds
        print(f"time per notebook (budget {budget:.0f} s each):")
        for notebook, seconds in sorted(per_notebook.items()):
            flag = "  OVER BUDGET" if seconds > budget else ""
            print(f"  {seconds:7.1f} s  {notebook}{flag}")
            if seconds > budget:
                warnings.append(
                    f"{notebook} took {seconds:.0f} s under nbval (budget {budget:.0f} s)"
                )
    elif total > budget:
        warnings.append(f"the test suite took {total:.0f} s (budget {budget:.0f} s)")
    return warnings


def main() -> None:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("kind", choices=["pytest", "nbval"])
    parser.add_argument("report", type=Path)
    parser.add_argument("--budget", type=float, required=True, help="seconds")
    args = parser.parse_args()
    if not args.report.is_file():
        print(f"warning: no report at {args.report}; no times to show", file=sys.stderr)
        return
    for warning in report(args.kind, read_cases(args.report), args.budget):
        print(f"WARNING (budget, not a failure): {warning}")


if __name__ == "__main__":
    main()
