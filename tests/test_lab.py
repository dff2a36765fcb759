"""The README's `make lab`: JupyterLab (headless, on loopback) serves the repository root, so
jupytext finds jupytext.toml and keeps every chapter paired with its .py twin through a save.

Run on a copy of the repository's files that `make lab` reads, with the running venv as its
VENV, so that saving through the API never touches the real chapters."""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import requests

from course import ROOT, pair_problems

CHAPTER = "01_encoder_decoder"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def make_lab(root: Path):
    """`make lab` in `root`; yields (base URL, auth headers)."""
    port, token = free_port(), secrets.token_hex(16)
    lab_args = (f"--no-browser --ServerApp.ip=127.0.0.1 --ServerApp.port={port} "
                f"--ServerApp.port_retries=0 --IdentityProvider.token={token}")
    env = {**os.environ, "JUPYTER_PLATFORM_DIRS": "1"}
    proc = subprocess.Popen(
        # -o: take the running venv as installed (the copy's files need not be older)
        ["make", "--no-print-directory", "-o", f"{sys.prefix}/.s2s-installed", "lab",
         f"VENV={sys.prefix}", f"LAB_ARGS={lab_args}"],
        cwd=root, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        lab = None
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                lab = requests.get(f"{base}/lab", params={"token": token}, timeout=5)
                break
            except requests.ConnectionError:
                time.sleep(0.5)
        if lab is None:
            out = proc.stdout.read().decode(errors="replace") if proc.poll() is not None else ""
            raise AssertionError(f"JupyterLab did not answer (exit code {proc.poll()}): {out}")
        assert lab.status_code == 200
        yield base, {"Authorization": f"token {token}"}
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def repo_copy(tmp_path: Path) -> Path:
    for name in ("Makefile", "jupytext.toml", "pyproject.toml", "constraints.txt"):
        shutil.copy2(ROOT / name, tmp_path / name)
    (tmp_path / "chapters").mkdir()
    for suffix in (".ipynb", ".py"):
        shutil.copy2(ROOT / "chapters" / f"{CHAPTER}{suffix}", tmp_path / "chapters")
    return tmp_path


def test_make_lab_keeps_the_pairs_through_a_save(tmp_path):
    root = repo_copy(tmp_path)
    with make_lab(root) as (base, auth):
        url = f"{base}/api/contents/chapters"
        listing = requests.get(url, headers=auth, timeout=10)
        assert listing.status_code == 200, "make lab must serve the repository root"
        # the .py twin opens as a notebook, with the outputs stored in the .ipynb
        twin = requests.get(f"{url}/{CHAPTER}.py", params={"type": "notebook"}, headers=auth,
                            timeout=30)
        assert twin.status_code == 200, twin.text
        model = twin.json()
        assert model["type"] == "notebook"
        cells = model["content"]["cells"]
        assert any(c["cell_type"] == "code" and c["outputs"] for c in cells), "no outputs"
        # save the notebook through the API, with one markdown cell changed
        nb = requests.get(f"{url}/{CHAPTER}.ipynb", headers=auth, timeout=30).json()
        marker = "Saved through JupyterLab by tests/test_lab.py."
        first_md = next(c for c in nb["content"]["cells"] if c["cell_type"] == "markdown")
        first_md["source"] = first_md["source"] + "\n\n" + marker
        saved = requests.put(f"{url}/{CHAPTER}.ipynb", headers=auth, timeout=30,
                             json={"type": "notebook", "format": "json",
                                   "content": nb["content"]})
        assert saved.status_code == 200, saved.text
    assert marker in (root / "chapters" / f"{CHAPTER}.py").read_text(), "the twin was not saved"
    assert pair_problems(root / "chapters") == []
