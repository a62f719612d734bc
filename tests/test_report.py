"""A real sweep through the CLI, then `ganxfer report` over it."""

import sys

import pandas as pd

from conftest import TINY
from ganxfer import cli


def test_report_groups_a_sweep_by_its_swept_settings(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "argv", ["ganxfer"])
    assert cli.main(["pretrain", *TINY, "hydra.run.dir=source"]) == 0
    assert cli.main(["finetune", "-m", *TINY, "ckpt=source/checkpoints/last.ckpt", "trainer.eval_every=2",
                     "transfer=scratch,full", "data.shots=20,40", "seed=0,1", "hydra.sweep.dir=sweep"]) == 0
    assert cli.main(["report", "sweep"]) == 0

    report = pd.read_csv(tmp_path / "sweep" / "report.csv")
    assert sorted(zip(report["transfer"], report["data.shots"])) == [
        ("full", 20), ("full", 40), ("scratch", 20), ("scratch", 40)]
    assert (report["jobs"] == 2).all()  # the two seeds pooled
    for column in ("fd_mean", "fd_std", "mmd2_rbf_mean", "steps_to_quality_mean"):
        assert column in report.columns
    scratch = report[report["transfer"] == "scratch"]
    assert (scratch["steps_to_quality_mean"] <= 6).all()  # scratch reaches its own mean by its end or earlier
    assert (tmp_path / "sweep" / "report.png").stat().st_size > 0
    # The report writes into the sweep's folder alone: no run folder of its own, no .hydra/ there.
    assert not (tmp_path / "outputs").exists() and not (tmp_path / "sweep" / ".hydra").exists()
