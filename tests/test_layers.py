"""The package's import layering, read from the source with ``ast`` (nothing is imported).

Layer 0 ``checks`` imports no other module of the package; layer 1 (``losses``, ``rng``,
``plots``, ``report``) imports only layer 0; layer 2 (``data``, ``pca``, ``evaluate``,
``downstream``, ``checkpoint``) only layers 0-1; layer 3 (every file of ``models``, and
``train``) only layers 0-2, where models may import one another but never ``train``,
``evaluate`` or ``downstream``;
layer 4 (``pretrain``, ``presets``) may import anything. The package's ``__init__`` runs
before any of its modules, so it sits in layer 0 too and imports only ``runtime`` (layer
0, importing nothing of the package), which checks the TensorFlow and Keras versions. Every
import counts, including those inside functions and under ``if TYPE_CHECKING``.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "vaebook"

# Module (dotted, without the "vaebook." prefix) -> layer. "models" stands for every
# module under vaebook/models; "" is the package's own __init__.
LAYERS = {
    "": 0,
    "checks": 0,
    "runtime": 0,
    "losses": 1,
    "rng": 1,
    "plots": 1,
    "report": 1,
    "data": 2,
    "pca": 2,
    "evaluate": 2,
    "ood": 2,
    "retrieval": 2,
    "few_labels": 3,  # it builds on retrieval's neighbours
    "quality": 3,  # precision and recall build on retrieval's neighbours
    "checkpoint": 2,
    "models": 3,
    "train": 3,
    "pretrain": 4,
    "presets": 4,
    "downstream": 4,  # names ood's, retrieval's and few_labels' objects together
}
TOP = max(LAYERS.values())
NEVER = {
    "models": {"train", "evaluate", "downstream", "ood", "retrieval", "few_labels", "quality"},
    "pca": {"models"},
}
# Imports allowed across the rule above: the package's __init__ checks the runtime.
ALLOWED = {"": {"runtime"}}


def module_name(path: Path) -> str:
    """``vaebook/models/vae.py`` -> ``vaebook.models.vae``; packages drop ``__init__``."""
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def is_package(name: str, package_dir: Path = PACKAGE) -> bool:
    return (package_dir.parent / Path(*name.split(".")) / "__init__.py").is_file()


def is_module(name: str, package_dir: Path = PACKAGE) -> bool:
    base = package_dir.parent / Path(*name.split("."))
    return base.with_suffix(".py").is_file() or (base / "__init__.py").is_file()


def imported_modules(source: str, name: str, package_dir: Path = PACKAGE) -> list[tuple[str, int]]:
    """The ``vaebook`` modules a module's source imports, with line numbers.

    ``from vaebook import rng`` imports the module ``vaebook.rng``; ``from vaebook import
    __version__`` imports the package ``vaebook`` itself. Relative imports are resolved
    against the importing module's package.
    """
    root = package_dir.name
    own_package = name if is_package(name, package_dir) else name.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = own_package.split(".")
                base = base[: len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            for alias in node.names:
                submodule = f"{target}.{alias.name}"
                found.append(
                    (submodule if is_module(submodule, package_dir) else target, node.lineno)
                )
    return [(module, line) for module, line in found if module.split(".")[0] == root]


def group(module: str) -> str:
    """The entry of ``LAYERS`` a dotted module name belongs to."""
    inside = module.split(".")[1:]
    if inside[:1] == ["models"]:
        return "models"
    return ".".join(inside)


def layering_violations(name: str, source: str, package_dir: Path = PACKAGE) -> list[str]:
    """One line per import of ``name`` that breaks the layering."""
    importer = group(name)
    if importer not in LAYERS:
        return [f"{name} has no layer: add it to LAYERS in tests/test_layers.py"]
    level = LAYERS[importer]
    problems = []
    for target, line in imported_modules(source, name, package_dir):
        imported = group(target)
        where = f"{name} (line {line}) imports {target}"
        if imported not in LAYERS:
            problems.append(f"{where}, which has no layer")
        elif imported in NEVER.get(importer, ()):
            problems.append(f"{where}: {importer} must never import {imported}")
        elif imported == importer == "models" or level == TOP:
            continue
        elif imported in ALLOWED.get(importer, ()):
            continue
        elif LAYERS[imported] >= level:
            problems.append(
                f"{where} (layer {LAYERS[imported]}) from layer {level}: "
                f"only layers below {level} may be imported"
            )
    return problems


def package_modules() -> dict[str, str]:
    return {module_name(path): path.read_text() for path in sorted(PACKAGE.rglob("*.py"))}


def test_every_module_imports_only_lower_layers():
    modules = package_modules()
    # The walk really sees the package (a wrong path would make this test vacuous).
    assert {"vaebook.checks", "vaebook.train", "vaebook.models.vae"} <= set(modules)
    problems = [p for name, source in modules.items() for p in layering_violations(name, source)]
    assert not problems, "Upward or forbidden imports:\n" + "\n".join(problems)


def test_pca_imports_nothing_from_models():
    source = (PACKAGE / "pca.py").read_text()
    from_models = [
        f"line {line}: {target}"
        for target, line in imported_modules(source, "vaebook.pca")
        if target == "vaebook.models" or target.startswith("vaebook.models.")
    ]
    assert not from_models, "vaebook.pca imports from vaebook.models: " + ", ".join(from_models)


# --- The checker itself, on made-up sources --------------------------------------------


@pytest.mark.parametrize(
    ("name", "source", "expected"),
    [
        ("vaebook.checks", "from vaebook.losses import squared_error", ["vaebook.losses"]),
        ("vaebook.losses", "from vaebook import rng", ["vaebook.rng"]),  # same layer
        ("vaebook.losses", "import vaebook.checks", []),
        ("vaebook.evaluate", "from vaebook.models import VAE", ["vaebook.models"]),
        ("vaebook.models.vae", "from vaebook.train import train", ["vaebook.train"]),
        ("vaebook.models.vae", "from vaebook import evaluate", ["vaebook.evaluate"]),
        ("vaebook.models.vae", "from .autoencoder import Autoencoder", []),
        ("vaebook.models.vae", "from . import common", []),
        ("vaebook.models.vae", "from ..train import History", ["vaebook.train"]),
        ("vaebook.models", "from vaebook.models.vae import VAE", []),
        ("vaebook.train", "from vaebook.models import VAE", ["vaebook.models"]),
        ("vaebook.train", "from vaebook.checkpoint import save_checkpoint", []),
        ("vaebook.pca", "def f():\n    from vaebook.models.vae import VAE\n", ["vaebook.models"]),
        ("vaebook.pretrain", "from vaebook.train import train\nimport vaebook.models", []),
        ("vaebook.presets", "from vaebook.pretrain import greedy_pretrain", []),
        ("vaebook.data", "import numpy as np\nfrom vaebook import __version__", []),
        ("vaebook", "from vaebook.checks import as_images", ["vaebook.checks"]),
        ("vaebook.newcomer", "", ["no layer"]),
    ],
)
def test_the_checker_flags_exactly_the_upward_imports(name, source, expected):
    problems = layering_violations(name, source)
    assert len(problems) == len(expected), problems
    for problem, fragment in zip(problems, expected):
        assert fragment in problem, problems
