"""The project's dependency lists and layout agree with each other."""

from pathlib import Path

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib
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


def install_cells():
    """Each notebook's name and its install cell (the first code cell), via Jupytext."""
    import jupytext

    for markdown in sorted((ROOT / "notebooks").glob("*.md")):
        code = [cell for cell in jupytext.read(markdown).cells if cell.cell_type == "code"]
        yield markdown.name, code[0]


def test_every_install_cell_installs_from_the_configured_repository_and_reports():
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    url = config["repository"]["url"]
    cells = list(install_cells())
    assert len(cells) >= 6
    for name, cell in cells:
        installs = [line.strip() for line in cell.source.splitlines() if "%pip install" in line]
        assert installs == [f'%pip install -q --no-deps "vaebook @ git+{url}"'], name
        # Every other address in the cell is the same repository too (the Results
        # page clones it).
        for line in cell.source.splitlines():
            if "https://" in line:
                assert url in line, (name, line)
        # It checks the runtime on import and prints versions and device.
        assert "import vaebook" in cell.source and "vaebook.runtime.describe()" in cell.source
        assert {"remove-input", "nbval-ignore-output"} <= set(cell.metadata["tags"]), name


def test_no_notebook_names_another_address_for_the_package():
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    url = config["repository"]["url"]
    for markdown in sorted((ROOT / "notebooks").glob("*.md")):
        for line in markdown.read_text().splitlines():
            if "git+" in line:
                assert f"git+{url}" in line, (markdown.name, line)


def lower_bounds():
    """pyproject.toml's run-time dependencies as name -> lower bound (and any upper)."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    bounds = {}
    for requirement in project["dependencies"]:
        name, _, rest = requirement.partition(">=")
        bounds[name] = rest
    return bounds


def oldest_pins():
    lines = (ROOT / ".ci" / "oldest.txt").read_text().splitlines()
    pins = [line.split("==") for line in lines if line and not line.startswith("#")]
    return {name: version for name, version in pins}


def test_lower_bounds_are_the_oldest_stack_ci_runs():
    bounds, pins = lower_bounds(), oldest_pins()
    assert set(bounds) == {"tensorflow", "keras", "numpy", "matplotlib"}
    for name, bound in bounds.items():
        # No upper bound: none is known to break (pyproject.toml says to name one).
        assert "<" not in bound and "," not in bound, (name, bound)
        assert pins[name] == bound, (name, bound, pins[name])
    # The ipykernel a Colab-like run gets is the test extra's lower bound.
    assert f"ipykernel>={pins['ipykernel']}" in pyproject_requirements()


def test_the_import_check_uses_the_same_minimum_versions():
    from vaebook import runtime

    pins = oldest_pins()
    assert runtime.MINIMUM_VERSIONS == {"tensorflow": pins["tensorflow"], "keras": pins["keras"]}


def test_package_version_agrees_with_pyproject():
    import vaebook

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert vaebook.__version__ == project["version"]


def test_ci_runs_the_oldest_stack_and_a_colab_like_chapter():
    run = (ROOT / ".ci" / "run").read_text()
    assert ".ci/oldest-stack" in run and 'wait "$oldest_pid"' in run
    stage = (ROOT / ".ci" / "oldest-stack").read_text()
    assert "-r .ci/oldest.txt" in stage
    assert "tools/colab_run.py" in stage and "-m pytest" in stage


def test_local_instructions_clone_the_configured_repository_and_install_jupyterlab():
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    url = config["repository"]["url"]
    intro = (ROOT / "book" / "intro.md").read_text()
    assert f"git clone {url}\n" in intro
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras = project["optional-dependencies"]
    assert 'pip install -e ".[lab]"' in intro and "jupyter lab" in intro
    assert any(requirement.startswith("jupyterlab") for requirement in extras["lab"])
    # Chapter 6's sliders need ipywidgets (Colab has it; a local JupyterLab does not).
    assert any(requirement.startswith("ipywidgets") for requirement in extras["lab"])
