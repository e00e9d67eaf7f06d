"""Debian programs the tests run for real (Dovecot, spamd, rspamd, Chromium): found, installed when root, or FAIL."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest


def _find(name: str) -> str | None:
    sbin = Path("/usr/sbin") / name
    return shutil.which(name) or (str(sbin) if sbin.exists() else None)


def debian_binary(name: str, packages: list[str], needed_for: str) -> str:
    """The program's path; as root, Debian's packages are installed on first use (CI and developers run as root
    with the package registry reachable). Missing after that: the test fails, it never skips."""
    found = _find(name)
    if not found and os.geteuid() == 0:
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        install = ["apt-get", "install", "-y", "-q", *packages]
        if subprocess.run(install, env=env, capture_output=True).returncode != 0:
            subprocess.run(["apt-get", "update", "-q"], env=env, capture_output=True)
            subprocess.run(install, env=env, capture_output=True)
        found = _find(name)
    if not found:
        pytest.fail(f"{name} is needed for {needed_for}: apt-get install -y {' '.join(packages)} (as root)")
    return found
