"""Optuna search and the parallel and cluster launchers through the CLI, and `ganxfer report` over a search."""

import json
import os
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


def sweep_jobs(folder):
    return sorted(job for job in folder.iterdir() if job.is_dir() and job.name.isdigit())


def assert_job_logged_in_its_own_folder(job, stage="finetune"):
    """Hydra's job log is <stage>.log in the job's folder and records the job's result."""
    fd = json.loads((job / "metrics.json").read_text())["fd"]
    record = (job / f"{stage}.log").read_text()
    assert f"{stage} finished in process" in record and f"returning {fd}" in record
    return int(record.split("in process ")[1].split(",")[0])


@pytest.mark.slow  # two worker processes, each importing torch
def test_joblib_launcher_runs_two_jobs_in_worker_processes(tmp_path, source, monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    assert cli.main(["finetune", "-m", "hydra/launcher=joblib", "hydra.launcher.n_jobs=2", *TINY,
                     f"ckpt={source}", "seed=0,1", "hydra.sweep.dir=parallel"]) == 0
    jobs = sweep_jobs(tmp_path / "parallel")
    assert [job.name for job in jobs] == ["0", "1"]
    processes = {assert_job_logged_in_its_own_folder(job) for job in jobs}
    assert os.getpid() not in processes
    assert not list(tmp_path.glob("*.log"))  # nothing logged into the working directory


@pytest.mark.slow  # a submitit subprocess importing torch
def test_submitit_local_launcher_runs_a_job_and_logs_beside_it(tmp_path, source, monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    assert cli.main(["finetune", "-m", "hydra/launcher=submitit_local", *TINY, f"ckpt={source}",
                     "hydra.sweep.dir=local"]) == 0
    [job] = sweep_jobs(tmp_path / "local")
    assert assert_job_logged_in_its_own_folder(job) != os.getpid()
    assert list((tmp_path / "local" / ".submitit").glob("*/*_log.out"))  # submitit's own stdout capture
    assert not list(tmp_path.glob("*.log"))


def test_submitit_slurm_launcher_composes(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert cli.main(["finetune", "--cfg", "hydra", "hydra/launcher=submitit_slurm", "hydra.launcher.partition=gpu",
                     "hydra.launcher.gpus_per_node=1", "hydra.launcher.timeout_min=60"]) == 0
    hydra = OmegaConf.create(capsys.readouterr().out).hydra
    assert hydra.launcher._target_.endswith("SlurmLauncher")
    assert (hydra.launcher.partition, hydra.launcher.gpus_per_node, hydra.launcher.timeout_min) == ("gpu", 1, 60)
    # Every job's log file is written into its own run directory, whichever machine runs it.
    log_file = OmegaConf.to_container(hydra.job_logging)["handlers"]["file"]["filename"]
    assert log_file == "${hydra.runtime.output_dir}/${hydra.job.name}.log"
    assert not any(tmp_path.iterdir())  # printing the config ran nothing
