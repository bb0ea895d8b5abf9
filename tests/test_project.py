"""Project plumbing: requirements, CI entry point, README commands, nbgrader config."""
import re
import subprocess
import sys
import tomllib

from conftest import ROOT


def _requirements(text):
    reqs = {}
    for line in text.splitlines():
        line = line.split("#")[0].strip()
        if line and not line.startswith("./"):  # a folder of the course (its JupyterLab settings)
            name = re.match(r"[A-Za-z0-9_.-]+", line).group(0).lower()
            reqs[name] = line[len(name):].strip()
    return reqs


def test_requirements_are_ranges_and_cover_the_package():
    reqs = _requirements((ROOT / "requirements.txt").read_text())
    for name in ["jupyterlab", "torch", "torchvision", "matplotlib", "ipywidgets", "nbgrader", "nltk", "tqdm", "numpy"]:
        assert name in reqs, f"requirements.txt lacks {name}"
    assert not any("==" in spec for spec in reqs.values()), "use ranges, not pins, so Colab keeps its torch"
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    for dep in project["dependencies"]:
        name = re.match(r"[A-Za-z0-9_.-]+", dep).group(0).lower()
        assert reqs.get(name) == dep[len(name):].strip(), f"{name}: pyproject.toml and requirements.txt disagree"


def test_colab_versions_satisfy_the_ranges():
    from packaging.specifiers import SpecifierSet

    colab = {"torch": "2.11.0", "torchvision": "0.26.0", "ipywidgets": "7.7.1", "numpy": "2.1.3",
             "matplotlib": "3.10.0", "nltk": "3.9.1", "tqdm": "4.67.3"}
    reqs = _requirements((ROOT / "requirements.txt").read_text())
    for name, version in colab.items():
        assert version in SpecifierSet(reqs[name]), f"Colab's {name} {version} does not satisfy {reqs[name]}"


def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    assert "<!-- test command -->" in readme
    assert "README.md" in ci and "test command" in ci, ".ci/run must take its command from the README"
    line = subprocess.run(["bash", "-c", f"source <(sed -n '/^extract_test_command()/,/^}}/p' {ROOT}/.ci/run); "
                                         f"cd {ROOT} && extract_test_command"],
                          capture_output=True, text=True, check=True).stdout.strip()
    assert "pip install" in line and "pytest" in line and "venv" in line


def test_nbgrader_config():
    from traitlets.config.loader import PyFileConfigLoader

    c = PyFileConfigLoader("nbgrader_config.py", path=str(ROOT)).load_config()
    assert c.CourseDirectory.source_directory == "solutions"
    assert c.CourseDirectory.release_directory == "notebooks"
    assert c.OverwriteCells.add_missing_cells is True
    assert 0 < c.Execute.timeout <= 120
    assert "NotImplementedError(" in c.ClearSolutions.code_stub["python"]
    assert "execution" in c.ClearOutput.remove_metadata_fields


def test_course_utils_imports_without_nbgrader():
    code = ("import sys; sys.modules['nbgrader'] = None\n"
            "from course_utils import runtime, checks, plots, widgets\n")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)
