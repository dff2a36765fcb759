"""Colab, simulated, and the package as a user installs it.

A fresh virtual environment gets the torch of this machine and a Jupyter kernel, as Colab has
them; a stand-in `google.colab` module is imported when the kernel starts, as on Colab; git's
`url.<copy>.insteadOf` sends the repository's address to a local copy of this working tree,
tagged with the release. Chapter 1 then runs, at the `ci` profile, through its own install cell:
that cell must install the package from the tag (PyPI provides the other dependencies) and
leave torch as it was. Then the package is built as an sdist and a wheel (the wheel from the
sdist, so the sdist must be complete), and the wheel installs and imports there.

Marked `colab`: `make test` runs it as its own stage (`make colab`); it needs the package
registry and takes a couple of minutes."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import nbformat
import pytest
import torch
from nbclient import NotebookClient

import colab
from course import ROOT, release

pytestmark = pytest.mark.colab
CHAPTER = "01_encoder_decoder"


def run(*args: str | Path, **kwargs) -> str:
    done = subprocess.run([str(a) for a in args], capture_output=True, text=True, **kwargs)
    assert done.returncode == 0, f"{args}: {done.stdout}{done.stderr}"
    return done.stdout


@pytest.fixture(scope="module")
def runtime(tmp_path_factory):
    """(venv python, git env) of a simulated Colab: torch and ipykernel installed, no s2s."""
    base = tmp_path_factory.mktemp("colab")
    venv = base / "venv"
    run(sys.executable, "-m", "venv", venv)
    python = venv / "bin" / "python"
    run(python, "-m", "pip", "install", "-q", f"torch=={torch.__version__}", "ipykernel")
    # the repository at its release tag: a copy of this working tree (what git would commit)
    repository, tag = release(ROOT)
    copy = base / "repo"
    listed = run("git", "ls-files", "-co", "--exclude-standard", "-z", cwd=ROOT).split("\0")
    for name in filter(None, listed):
        if (ROOT / name).is_file():
            (copy / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, copy / name)
    git = {"GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": str(base / "gitconfig"),
           "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@t"}
    (base / "gitconfig").write_text(f'[url "file://{copy}"]\n\tinsteadOf = {repository}\n')
    genv = {**os.environ, **git}
    for args in (["init", "-q"], ["add", "-A"], ["commit", "-qm", "release"], ["tag", tag]):
        run("git", *args, cwd=copy, env=genv)
    # google.colab, imported when the kernel starts
    stub = base / "stub" / "google" / "colab"
    stub.mkdir(parents=True)
    (stub / "__init__.py").write_text('"""Stand-in for Colab (tests/test_colab.py)."""\n')
    kernel = base / "jupyter" / "kernels" / "colab"
    kernel.mkdir(parents=True)
    (kernel / "kernel.json").write_text(json.dumps({
        "argv": [str(python), "-m", "ipykernel_launcher", "-f", "{connection_file}",
                 "--IPKernelApp.exec_lines=import google.colab"],
        "display_name": "Colab (simulated)", "language": "python",
        "env": {"PYTHONPATH": str(base / "stub"), **git},
    }))
    return python, base


def torch_version(python: Path) -> str:
    return run(python, "-c", "import torch; print(torch.__version__)").strip()


def test_chapter_1_runs_through_its_install_cell(runtime, monkeypatch):
    python, base = runtime
    before = torch_version(python)
    nb = nbformat.read(ROOT / "chapters" / f"{CHAPTER}.ipynb", as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell("import s2s\nprint(s2s.__file__)"))
    nb.cells.append(nbformat.v4.new_code_cell(  # the committed results, from the clone
        "import os\nfrom s2s.experiments.report import cite\n"
        "print(os.getcwd())\nprint(cite('ch06_depth').source)"))
    monkeypatch.setenv("JUPYTER_PATH", str(base / "jupyter"))
    monkeypatch.setenv("S2S_PROFILE", "ci")
    monkeypatch.setenv("S2S_CACHE_DIR", str(base / "cache"))
    monkeypatch.setenv("HOME", str(base / "home"))  # where the install cell clones the course
    (base / "home").mkdir(exist_ok=True)
    monkeypatch.delenv("PYTHONPATH", raising=False)
    workdir = base / "work"
    workdir.mkdir()
    NotebookClient(nb, kernel_name="colab", timeout=600,
                   resources={"metadata": {"path": str(workdir)}}).execute()
    install = next(c for c in nb.cells if c.cell_type == "code" and colab.INSTALL_MARK in c.source)
    printed = "".join(o.get("text", "") for o in install.outputs)
    _, tag = release(ROOT)
    assert f"installed s2s-course 0.1.0 ({tag}), torch {before} kept" in printed, printed
    assert torch_version(python) == before
    cited = "".join(o.get("text", "") for o in nb.cells[-1].outputs)
    assert "s2s-course/chapters" in cited and "results/ch06_depth.json, made by" in cited, cited
    where = "".join(o.get("text", "") for o in nb.cells[-2].outputs)
    assert str(python.parents[1]) in where and "site-packages" in where, where
    direct = run(python, "-m", "pip", "show", "-f", "s2s-course")
    assert "Editable" not in direct


def test_wheel_and_sdist_build_install_and_import(runtime, tmp_path):
    python, _ = runtime
    dist = tmp_path / "dist"
    run(sys.executable, "-m", "build", "--outdir", dist, ROOT)
    wheel = next(dist.glob("s2s_course-*.whl"))
    sdist = next(dist.glob("s2s_course-*.tar.gz"))
    assert sdist.stat().st_size > 0
    names = zipfile.ZipFile(wheel).namelist()
    assert "s2s/__init__.py" in names and "s2s/models/base.py" in names
    run(python, "-m", "pip", "uninstall", "-q", "-y", "s2s-course")
    run(python, "-m", "pip", "install", "-q", wheel)
    out = run(python, "-c", "import s2s, s2s.models, s2s.decoding; print(s2s.__file__)",
              cwd=tmp_path)
    assert "site-packages" in out
