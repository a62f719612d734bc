import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from omegaconf import OmegaConf
from threadpoolctl import threadpool_limits

from ganxfer import checkpoint, cli, models
from ganxfer.settings import group_from_saved

# Small enough that a run takes well under a second; big enough to exercise every part. On the
# CPU, even where a GPU is at hand: the tests compare weights and numbers bit for bit, which a GPU
# computes otherwise, and torchrun's tests start more processes than a machine has GPUs. The tests
# of what only a GPU does say trainer.device=cuda after these (the last value given wins).
TINY = ["trainer.steps=6", "trainer.batch_size=16", "trainer.log_every=2", "trainer.ckpt_every=3",
        "model.z_dim=8", "model.g_hidden=32", "model.d_hidden=32", "trainer.device=cpu"]


def settings_of(group: str, values) -> object:
    """One config group's typed settings from these values (a dict or an OmegaConf node), what they
    lack filled from the defaults of the option they name, as a checkpoint's saved config is read."""
    if not isinstance(values, dict):
        values = OmegaConf.to_container(values, resolve=True)
    return group_from_saved(group, values)


def build_model(model: dict, *args, **kwargs):
    """models.build from a `model` group written as a dict."""
    return models.build(settings_of("model", model), *args, **kwargs)


def console_script() -> str:
    """The installed `ganxfer` entry point of the interpreter running the tests."""
    return str(Path(sys.executable).with_name("ganxfer"))


def assert_failed_cleanly(result: subprocess.CompletedProcess) -> None:
    assert result.returncode != 0, result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr, result.stderr
    assert "Error executing job" not in result.stderr, result.stderr  # Hydra's words for a crash


def assert_user_error(result: subprocess.CompletedProcess, *phrases: str) -> None:
    """Non-zero exit, no traceback, and one paragraph on stderr holding every phrase."""
    assert_failed_cleanly(result)
    message = result.stderr.strip()
    assert message and "\n\n" not in message, result.stderr
    for phrase in phrases:
        assert phrase.lower() in message.lower(), f"{phrase!r} not in: {message}"


def run_in_process(stage: str, *overrides: str) -> int:
    """`ganxfer <stage> ...` through cli.main in this process (no torch import to pay); returns
    its exit status, as the console script would exit with it. Hydra reads sys.argv, so it is
    set as a console script would set it."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(sys, "argv", ["ganxfer"])
        try:
            return cli.main([stage, *overrides])
        except SystemExit as stop:  # an error inside the stage: reported, then the process exits
            return stop.code


@pytest.fixture
def ganxfer(tmp_path, monkeypatch):
    """Run `ganxfer <stage> ...` in this process, in tmp_path; return the run directory."""
    monkeypatch.chdir(tmp_path)
    counter = iter(range(1000))

    def run(stage: str, *overrides: str) -> Path:
        run_dir = tmp_path / f"run{next(counter)}_{stage}"
        assert run_in_process(stage, *overrides, f"hydra.run.dir={run_dir}") == 0
        return run_dir

    return run


def run_console_script(cwd: Path, *args: str, command: list[str] | None = None) -> subprocess.CompletedProcess:
    """`ganxfer ...` as a user runs it: the installed console script (or `command`), in its own
    process, whatever the outcome. Without HYDRA_FULL_ERROR, which would make Hydra print
    tracebacks on purpose."""
    env = {key: value for key, value in os.environ.items() if key != "HYDRA_FULL_ERROR"}
    return subprocess.run([*(command or [console_script()]), *map(str, args)], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)


@pytest.fixture
def ganxfer_outcome(monkeypatch, capsys):
    """Run `ganxfer ...` in this process, in `cwd`, whatever the outcome: the exit code and what
    was printed, as run_console_script gives them, for a fraction of a process's start-up."""

    def run(cwd: Path, *args: str) -> subprocess.CompletedProcess:
        monkeypatch.chdir(cwd)
        monkeypatch.delenv("HYDRA_FULL_ERROR", raising=False)
        monkeypatch.setattr(sys, "argv", ["ganxfer"])
        capsys.readouterr()
        try:
            code = cli.main(list(map(str, args)))
        except SystemExit as exit:  # how a stage's error (or Hydra's own) ends the run
            code = exit.code if isinstance(exit.code, int) else 1
        out, err = capsys.readouterr()
        return subprocess.CompletedProcess(args, code, out, err)

    return run


def whole_and_resumed(ganxfer, stage: str, *settings: str, steps: int = 6) -> tuple[dict, dict]:
    """The last checkpoints of a run of `steps` steps and of one stopped half-way and resumed;
    asserts that their networks are bit-identical, and returns both for further checks."""
    whole = load_last(ganxfer(stage, *settings, f"trainer.steps={steps}"))
    half = ganxfer(stage, *settings, f"trainer.steps={steps // 2}")
    resumed = load_last(ganxfer(stage, *settings, f"trainer.steps={steps}", f"resume={half}/checkpoints/last.ckpt"))
    for network in ("generator", "discriminator", "ema"):
        for key, value in whole["networks"][network].items():
            assert torch.equal(value, resumed["networks"][network][key]), (network, key)
    return whole, resumed


def load_last(run_dir: Path) -> dict:
    return checkpoint.load(run_dir / "checkpoints" / "last.ckpt")


def pytest_collection_modifyitems(items):
    """Tests marked `gpu` check what only a GPU does, and are skipped where there is none."""
    if torch.cuda.is_available():
        return
    for item in items:
        if item.get_closest_marker("gpu"):
            item.add_marker(pytest.mark.skip(reason="needs a CUDA device"))


@pytest.fixture(autouse=True)
def one_thread():
    """Test data are tiny: extra BLAS/OpenMP threads gain nothing, and on a busy machine their
    spinning makes scikit-learn's gradient boosting tens of times slower."""
    with threadpool_limits(1):
        yield


def mixed_table(seed, rows=200):
    """Every kind of column the data layer produces: floats, integers with gaps, text, booleans."""
    rng = np.random.default_rng(seed)
    gaps = rng.random(rows) < 0.1
    return pd.DataFrame({
        "price": np.where(gaps, np.nan, rng.gamma(2.0, 10.0, rows)),
        "visits": pd.array(np.where(gaps, None, rng.integers(0, 40, rows)), dtype="Int64"),
        "shop": np.where(gaps, None, rng.choice(["north", "south", "web"], rows)),
        "member": rng.random(rows) < 0.3,
    })
