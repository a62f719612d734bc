"""Optuna search through the CLI, and `ganxfer report` over it."""

import json
import sys

import optuna
import pandas as pd
import pytest
from omegaconf import OmegaConf

from conftest import TINY
from ganxfer import cli


@pytest.fixture
def source(tmp_path, monkeypatch):
    """A tiny pretrained checkpoint, with the working directory at tmp_path."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "argv", ["ganxfer"])
    assert cli.main(["pretrain", *TINY, "hydra.run.dir=source"]) == 0
    return "source/checkpoints/last.ckpt"


def test_optuna_search_minimises_the_fd_each_trial_returns_and_report_reads_it(tmp_path, source):
    assert cli.main(["finetune", "-m", "hparams_search=digits_optuna", *TINY, f"ckpt={source}",
                     "hydra.sweeper.n_trials=2", "hydra.sweep.dir=search",
                     "hydra.sweeper.storage=sqlite:///study.db"]) == 0

    final_fd = {int(job.name): json.loads((job / "metrics.json").read_text())["fd"]
                for job in (tmp_path / "search").iterdir() if job.is_dir()}
    assert sorted(final_fd) == [0, 1]
    study = optuna.load_study(study_name="digits_finetune", storage="sqlite:///study.db")
    assert study.direction == optuna.study.StudyDirection.MINIMIZE
    assert {trial.number: trial.value for trial in study.trials} == pytest.approx(final_fd)
    results = OmegaConf.load(tmp_path / "search" / "optimization_results.yaml")
    assert results.best_value == pytest.approx(min(final_fd.values()))
    learning_rates = {trial.params["optimizer.lr_g"] for trial in study.trials}
    assert len(learning_rates) == 2 and all(2e-5 <= lr <= 2e-3 for lr in learning_rates)

    assert cli.main(["report", "search"]) == 0
    report = pd.read_csv(tmp_path / "search" / "report.csv")
    assert len(report) == 2 and (report["jobs"] == 1).all()  # every trial is its own setting
    assert sorted(report["optimizer.lr_g"]) == pytest.approx(sorted(learning_rates))
    assert sorted(report["fd_mean"]) == pytest.approx(sorted(final_fd.values()))


def test_a_missing_plugin_names_the_extra_to_install(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(cli, "find_spec", lambda module: None)
    assert cli.main(["finetune", "-m", "hparams_search=digits_optuna"]) == 2
    assert "pip install 'ganxfer[sweeps]'" in capsys.readouterr().err
