"""The project's dependency lists and layout agree with each other."""

from pathlib import Path

import tomllib
import yaml

ROOT = Path(__file__).resolve().parents[1]


def pyproject_requirements():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    requirements = set(project["dependencies"])
    for extra in project["optional-dependencies"].values():
        requirements |= set(extra)
    return requirements


def test_environment_yml_lists_the_same_dependencies_as_pyproject():
    environment = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip_section = next(
        item["pip"] for item in environment["dependencies"] if isinstance(item, dict)
    )
    listed = {line.replace(" ", "") for line in pip_section if not line.startswith("-e")}
    assert listed == {line.replace(" ", "") for line in pyproject_requirements()}
    assert "-e ." in pip_section


def test_jupyter_book_is_pinned_to_1x():
    assert "jupyter-book>=1.0.4,<2" in pyproject_requirements()


def test_every_chapter_in_the_toc_is_a_paired_notebook():
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    files = [chapter["file"] for part in toc["parts"] for chapter in part["chapters"]]
    chapters = [name for name in files if name.startswith("notebooks/")]
    assert chapters, "no chapters in _toc.yml"
    for name in chapters:
        assert (ROOT / f"{name}.ipynb").is_file(), name
        assert (ROOT / f"{name}.md").is_file(), name


def test_colab_install_cell_names_the_configured_repository():
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    url = config["repository"]["url"]
    for markdown in sorted((ROOT / "notebooks").glob("*.md")):
        assert f"git+{url}" in markdown.read_text(), markdown.name


def test_local_instructions_clone_the_configured_repository_and_install_jupyterlab():
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    url = config["repository"]["url"]
    intro = (ROOT / "book" / "intro.md").read_text()
    assert f"git clone {url}\n" in intro
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras = project["optional-dependencies"]
    assert 'pip install -e ".[lab]"' in intro and "jupyter lab" in intro
    assert any(requirement.startswith("jupyterlab") for requirement in extras["lab"])
