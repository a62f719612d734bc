"""The installed console script, as a user runs it: pretrain -> finetune -> evaluate -> sample."""

import json
import math
import sys

import numpy as np
import pandas as pd
import pytest

from conftest import TINY, run_console_script


def ganxfer(cwd, *args, command=None):
    """A console-script run that must succeed."""
    result = run_console_script(cwd, *args, command=command)
    assert result.returncode == 0, result.stderr
    return result


def test_digits_pretrain_finetune_evaluate_sample(tmp_path):
    ganxfer(tmp_path, "pretrain", *TINY)
    ganxfer(tmp_path, "finetune", "ckpt=latest", *TINY, "hydra.run.dir=outputs/ft")
    # latest: the finetune run (in a folder of the user's naming), not the pretrain run it started from
    evaluated = ganxfer(tmp_path, "evaluate", "ckpt=latest", "hydra.run.dir=outputs/ev")
    assert "ckpt=latest is outputs/ft/checkpoints/last.ckpt" in evaluated.stdout + evaluated.stderr
    ganxfer(tmp_path, "sample", "ckpt=latest", "n=50", "out=synthetic.csv", "hydra.run.dir=outputs/sa")

    metrics = json.loads((tmp_path / "outputs/ev/metrics.json").read_text())
    assert metrics["stage"] == "finetune" and metrics["real_rows"] == 180  # 20% of digits 5-9
    assert all(math.isfinite(metrics[name]) for name in ("fd", "mmd2_rbf", "c2st_accuracy"))
    rows = pd.read_csv(tmp_path / "synthetic.csv")
    assert rows.shape == (50, 64) and list(rows.columns) == [f"pixel{i}" for i in range(64)]
    assert all(dtype == np.int64 for dtype in rows.dtypes) and rows.min().min() >= 0 and rows.max().max() <= 16
    assert (tmp_path / "outputs/sa/samples.png").exists()
    assert (tmp_path / "outputs/ft/.hydra/config.yaml").exists()


def test_own_csv_with_a_label_keeps_columns_kinds_and_ranges(tmp_path):
    rng = np.random.default_rng(0)
    pd.DataFrame({
        "domain": np.repeat(["shop", "web"], 60),
        "price": rng.gamma(2.0, 10.0, 120).round(2),
        "visits": rng.integers(0, 40, 120),
    }).to_csv(tmp_path / "sales.csv", index=False)
    data = ["data=csv", "data.path=sales.csv", "data.label=domain"]
    ganxfer(tmp_path, "pretrain", *data, "data.classes=[shop]", *TINY, "hydra.run.dir=src")
    ganxfer(tmp_path, "finetune", *data, "data.classes=[web]", "data.shots=10", "ckpt=src/checkpoints/last.ckpt",
            *TINY, "hydra.run.dir=ft")
    ganxfer(tmp_path, "sample", "ckpt=ft/checkpoints/last.ckpt", "n=30", "out=fake.csv", "hydra.run.dir=sa")
    fake, real = pd.read_csv(tmp_path / "fake.csv"), pd.read_csv(tmp_path / "sales.csv")
    assert list(fake.columns) == ["price", "visits"]  # the label selects rows; it is not generated
    assert fake["visits"].dtype == np.int64
    web = real[real.domain == "web"]
    for column in ("price", "visits"):
        assert web[column].min() - 1e-9 <= fake[column].min() and fake[column].max() <= web[column].max() + 1e-9


def test_python_dash_m_multirun_and_cfg_job_work(tmp_path):
    shown = ganxfer(tmp_path, "pretrain", "--cfg", "job", "trainer.steps=7", command=[sys.executable, "-m", "ganxfer"])
    assert "steps: 7" in shown.stdout and "name: pretrain" in shown.stdout
    ganxfer(tmp_path, "pretrain", "-m", *TINY, "seed=1,2", "hydra.sweep.dir=sweep")
    assert sorted(p.parent.parent.name for p in tmp_path.glob("sweep/*/checkpoints/last.ckpt")) == ["0", "1"]


@pytest.mark.parametrize("args, code", [([], 2), (["--help"], 0)])
def test_no_stage_or_help_lists_stages_and_groups(tmp_path, args, code):
    result = run_console_script(tmp_path, *args)
    assert result.returncode == code
    assert "pretrain" in result.stdout and "transfer" in result.stdout and "scratch" in result.stdout
