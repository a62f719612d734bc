"""The built wheel works on its own: installed into a fresh venv, run from outside the repository."""

import os
import re
import shutil
import site
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import TINY

REPO = Path(__file__).resolve().parents[1]
# Build outputs and local state: never part of what a wheel is built from.
NOT_SOURCE = shutil.ignore_patterns(".git", ".venv", "build", "dist", "*.egg-info", "outputs", "multirun",
                                   "__pycache__", ".pytest_cache")


def run(*command, cwd: Path) -> str:
    # PYTHONPATH/PYTHONHOME would let the new venv import the development copy of ganxfer.
    env = {key: value for key, value in os.environ.items() if key not in ("PYTHONPATH", "PYTHONHOME")}
    result = subprocess.run([str(part) for part in command], cwd=cwd, env=env, capture_output=True, text=True)
    assert result.returncode == 0, f"{command}\n{result.stdout}\n{result.stderr}"
    return result.stdout


def build_wheel(tmp_path: Path) -> Path:
    # Build from a clean copy: setuptools writes build/ into the source tree, and stale files
    # there would end up in the wheel.
    source = tmp_path / "source"
    shutil.copytree(REPO, source, ignore=NOT_SOURCE)
    run(sys.executable, "-m", "pip", "wheel", source, "--no-deps", "--no-build-isolation", "-w", tmp_path / "dist",
        cwd=tmp_path)
    [wheel] = (tmp_path / "dist").glob("ganxfer-*.whl")
    return wheel


def venv_with_our_dependencies(folder: Path) -> Path:
    """A fresh venv that sees this interpreter's site-packages through a .pth file. A directory
    listed in a .pth is only put on sys.path, its own .pth files are not run, so the editable
    install's import hook there stays inactive. Returns the venv's bin folder."""
    run(sys.executable, "-m", "venv", folder, cwd=folder.parent)
    python = folder / "bin" / "python"
    purelib = run(python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))", cwd=folder).strip()
    (Path(purelib) / "ganxfer_test_dependencies.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    return python.parent


@pytest.mark.slow
def test_wheel_installs_and_runs_outside_the_repository(tmp_path):
    wheel = build_wheel(tmp_path)
    venv = tmp_path / "venv"
    bin_folder = venv_with_our_dependencies(venv)
    run(bin_folder / "python", "-m", "pip", "install", "--no-deps", "--no-index", wheel, cwd=tmp_path)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()

    imported = run(bin_folder / "python", "-c", "import ganxfer; print(ganxfer.__file__)", cwd=elsewhere)
    assert Path(imported.strip()).is_relative_to(venv), imported

    run(bin_folder / "ganxfer", "pretrain", *TINY, "hydra.run.dir=run", cwd=elsewhere)
    assert (elsewhere / "run" / "checkpoints" / "last.ckpt").is_file()

    usage = run(bin_folder / "ganxfer", "--help", cwd=elsewhere)
    for group in ("data", "model", "optimizer", "loss", "transfer", "stage"):
        assert re.search(rf"^\s+{group}\s+\w", usage, re.MULTILINE), f"group {group} missing:\n{usage}"
