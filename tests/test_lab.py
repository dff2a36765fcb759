"""The README's `make lab` serves chapters/ in JupyterLab (started headless on loopback)."""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
import time

import requests

from course import ROOT


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_make_lab_serves_the_chapters():
    port, token = free_port(), secrets.token_hex(16)
    lab_args = (f"--no-browser --ServerApp.ip=127.0.0.1 --ServerApp.port={port} "
                f"--ServerApp.port_retries=0 --IdentityProvider.token={token}")
    env = {**os.environ, "JUPYTER_PLATFORM_DIRS": "1"}
    proc = subprocess.Popen(
        ["make", "--no-print-directory", "lab", f"VENV={sys.prefix}", f"LAB_ARGS={lab_args}"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
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
        assert lab is not None, f"JupyterLab did not answer (exit code {proc.poll()})"
        assert lab.status_code == 200
        nb = requests.get(f"{base}/api/contents/01_encoder_decoder.ipynb",
                          headers={"Authorization": f"token {token}"}, timeout=10)
        assert nb.status_code == 200
        assert nb.json()["type"] == "notebook"
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
