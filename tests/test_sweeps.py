"""Optuna search and the parallel and cluster launchers through the CLI, `ganxfer report` over a search, and
sweeps that go on past a failed job, whichever launcher or sweeper runs them."""

import json
import os
import sys
from pathlib import Path

import optuna
import pandas as pd
import pytest
from omegaconf import OmegaConf

from conftest import TINY
from ganxfer import cli, runtime, stages, validate


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
    monkeypatch.setattr(validate, "find_spec", lambda module: None)
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


def assert_sweep_went_past_its_failed_job(result, sweep_dir, stage, failed_job, finished_job, *phrases):
    """The failed job's paragraph is in its own log and error.txt; the later job finished; the sweep
    exits non-zero, saying how many of its jobs failed and which, without a traceback."""
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    assert (sweep_dir / finished_job / "metrics.json").exists()
    assert not (sweep_dir / failed_job / "metrics.json").exists()
    message = (sweep_dir / failed_job / "error.txt").read_text()
    assert message.startswith(f"ganxfer {stage} (job {failed_job}): error: ") and "\n\n" not in message.strip()
    assert all(phrase in message for phrase in phrases), message
    assert message.strip() in (sweep_dir / failed_job / f"{stage}.log").read_text()
    summary = result.stderr.strip().splitlines()[-1]
    assert summary.startswith(f"ganxfer {stage}: 1 of 2 jobs of the sweep failed: ")
    # Hydra's own notes on a failed job add nothing to ganxfer's, and its traceback hint misleads.
    assert "Error executing job" not in result.stderr and "HYDRA_FULL_ERROR" not in result.stderr, result.stderr
    named_folder = summary.split(": ")[2].split(" (")[0]
    assert Path(named_folder).resolve() == (sweep_dir / failed_job).resolve(), summary


def test_a_failed_job_of_a_sweep_is_reported_and_the_next_job_runs(tmp_path, ganxfer_outcome):
    result = ganxfer_outcome(tmp_path, "pretrain", "-m", *TINY, "data.classes=[0,1,2,99],[0,1,2]",
                             "hydra.sweep.dir=sweep")
    assert_sweep_went_past_its_failed_job(result, tmp_path / "sweep", "pretrain", "0", "1", "99")
    assert "ganxfer pretrain (job 0): error: " in result.stderr  # as it happened, before job 1 ran

    # The report covers the finished job and names the failed one under its table.
    report = ganxfer_outcome(tmp_path, "report", "sweep")
    assert report.returncode == 0, report.stderr
    [failed] = [line for line in report.stdout.splitlines() if "jobs failed" in line]
    assert failed.startswith("1 of 2 jobs failed") and failed.endswith(": sweep/0"), failed
    assert pd.read_csv(tmp_path / "sweep" / "report.csv")["jobs"].sum() == 1


def test_stderr_in_a_sweep_drops_hydras_notes_on_a_job_only_when_ganxfers_job_failed(capsys):
    """Hydra's line before the exception's message and its hint after it, each in one write as
    Hydra writes them: left out for a job whose message ganxfer printed (in this process, or
    in a launcher's, when JobFailed's message follows), kept around any other failure."""
    hydras_line = "Error executing job with overrides: ['seed=0']\n"
    hint = "\nSet the environment variable HYDRA_FULL_ERROR=1 for a complete stack trace.\n"
    message = "ganxfer pretrain (job 0): error: data file not found: x.csv\n"  # as the job failed
    job_failed = "ganxfer pretrain (job 0) failed; its message is in sweep/0/error.txt\n"
    fault = "Traceback (most recent call last): a fault in Hydra\n"
    with runtime.without_hydras_notes_on_our_failures(True):
        for text in (message, hydras_line, job_failed, hint,  # the basic launcher
                     hydras_line, job_failed, hint,  # a job run in another process
                     message, hydras_line,  # the Optuna sweeper: no message or hint follows
                     hydras_line, fault, hint):  # a failure that is not a job's
            sys.stderr.write(text)
        sys.stderr.write(hydras_line)  # held when the sweep ends: written out then
    assert capsys.readouterr().err.splitlines() == [
        message.strip(), job_failed.strip(), job_failed.strip(), message.strip(),
        hydras_line.strip(), fault.strip(), "", hint.strip(), hydras_line.strip()]
    with runtime.without_hydras_notes_on_our_failures(False):  # a single run: nothing is left out
        sys.stderr.write(hydras_line)
    assert capsys.readouterr().err == hydras_line


def test_a_sweep_into_a_folder_of_earlier_sweeps_counts_only_its_own_jobs(tmp_path, ganxfer_outcome):
    """An earlier sweep's failed job in the same folder is not this sweep's failure."""
    ganxfer_outcome(tmp_path, "pretrain", "-m", *TINY, "trainer.d_steps=0,0,0", "hydra.sweep.dir=sweep")
    result = ganxfer_outcome(tmp_path, "pretrain", "-m", *TINY, "trainer.d_steps=0,1", "hydra.sweep.dir=sweep")
    assert_sweep_went_past_its_failed_job(result, tmp_path / "sweep", "pretrain", "0", "1", "trainer.d_steps=0")
    assert not (tmp_path / "sweep" / "1" / "error.txt").exists()  # the earlier failure of job 1 was replaced
    assert (tmp_path / "sweep" / "2" / "error.txt").exists()  # an earlier job, not counted above


def test_debug_keeps_the_failed_job_traceback_in_its_folder(tmp_path, ganxfer_outcome):
    result = ganxfer_outcome(tmp_path, "pretrain", "-m", *TINY, "trainer.d_steps=0,1", "debug=true",
                             "hydra.sweep.dir=sweep")
    assert result.returncode == 1
    assert (tmp_path / "sweep" / "1" / "metrics.json").exists()
    message = (tmp_path / "sweep" / "0" / "error.txt").read_text()
    assert message.startswith("Traceback (most recent call last)") and "trainer.d_steps=0 must be" in message
    assert "1 of 2 jobs of the sweep failed" in result.stderr


def test_a_fault_of_ganxfer_in_a_job_keeps_its_traceback_and_the_command_of_that_job(tmp_path, ganxfer_outcome,
                                                                                    monkeypatch):
    def stage_that_breaks_on_seed_0(cfg):
        if cfg.seed == 0:
            raise RuntimeError("a fault inside the stage")
        return 1.0

    monkeypatch.setattr(stages, "runner", lambda name: stage_that_breaks_on_seed_0)
    result = ganxfer_outcome(tmp_path, "pretrain", "-m", "seed=0,1", "hydra.sweep.dir=sweep")
    assert result.returncode == 1
    message = (tmp_path / "sweep" / "0" / "error.txt").read_text().strip()
    assert message.startswith("Traceback (most recent call last)") and "RuntimeError: a fault inside the stage" in message
    assert message.splitlines()[-1].startswith("ganxfer pretrain (job 0): this is a fault in ganxfer itself")
    assert message.endswith(": ganxfer pretrain seed=0"), message
    assert not (tmp_path / "sweep" / "1" / "error.txt").exists()
    assert "1 of 2 jobs of the sweep failed" in result.stderr.strip().splitlines()[-1]


@pytest.mark.slow  # two worker processes, each importing torch
def test_joblib_launcher_goes_on_past_a_failed_job(tmp_path, ganxfer_outcome, monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    # The sweep's folder named outright: worker processes that an earlier test started keep its working directory.
    result = ganxfer_outcome(tmp_path, "pretrain", "-m", "hydra/launcher=joblib", "hydra.launcher.n_jobs=2", *TINY,
                             "trainer.d_steps=0,1", f"hydra.sweep.dir={tmp_path / 'parallel'}")
    assert_sweep_went_past_its_failed_job(result, tmp_path / "parallel", "pretrain", "0", "1", "trainer.d_steps=0")


def test_optuna_search_tells_its_study_a_trial_failed_and_goes_on(tmp_path, source, ganxfer_outcome):
    # seed=4 (the sampler's seed) draws trainer.d_steps=0, which is refused, for the first trial only.
    result = ganxfer_outcome(tmp_path, "finetune", "-m", "hparams_search=digits_optuna", *TINY, f"ckpt={source}",
                             "trainer.d_steps=0,1", "seed=4", "hydra.sweeper.n_trials=2", "hydra.sweep.dir=search",
                             "hydra.sweeper.storage=sqlite:///study.db")
    assert_sweep_went_past_its_failed_job(result, tmp_path / "search", "finetune", "0", "1", "trainer.d_steps=0")
    study = optuna.load_study(study_name="digits_finetune", storage="sqlite:///study.db")
    assert [trial.state for trial in study.trials] == [optuna.trial.TrialState.FAIL, optuna.trial.TrialState.COMPLETE]
    assert OmegaConf.load(tmp_path / "search" / "optimization_results.yaml").best_params["trainer.d_steps"] == 1
