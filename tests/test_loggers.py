"""logger=tensorboard and logger=mlflow: what a run logs is read back from the local stores."""

import json
import sys
from pathlib import Path

import pandas as pd
import pytest
from mlflow.tracking import MlflowClient
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from conftest import TINY
from ganxfer import cli

EVALUATED = [*TINY, "trainer.eval_every=2"]  # fd at steps 2, 4 and 6


def logged_fd(run_dir: Path) -> list[tuple[int, float]]:
    log = pd.read_csv(run_dir / "train_log.csv").dropna(subset=["fd"])
    return list(zip(log["step"], log["fd"]))


def test_tensorboard_holds_the_logged_rows_the_config_and_the_samples(ganxfer):
    run_dir = ganxfer("pretrain", *EVALUATED, "logger=tensorboard")
    events = EventAccumulator(str(run_dir), size_guidance={"scalars": 0, "images": 0, "tensors": 0}).Reload()

    fd = [(event.step, event.value) for event in events.Scalars("fd")]
    assert [step for step, _ in fd] == [2, 4, 6]
    assert [value for _, value in fd] == pytest.approx([value for _, value in logged_fd(run_dir)], rel=1e-6)
    assert len(events.Scalars("d_loss")) == len(pd.read_csv(run_dir / "train_log.csv"))
    best = json.loads((run_dir / "metrics.json").read_text())["best_fd"]
    assert events.Scalars("best_fd")[0].value == pytest.approx(best, rel=1e-6)
    assert {"samples", "curves"} <= set(events.Tags()["images"])
    config = events.Tensors("config/text_summary")[0].tensor_proto.string_val[0].decode()
    assert "steps: 6" in config and "name: tensorboard" in config


def test_mlflow_files_a_sweeps_jobs_under_one_experiment(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "argv", ["ganxfer"])
    assert cli.main(["pretrain", "-m", *EVALUATED, "logger=mlflow", "logger.tracking_uri=mlruns", "seed=0,1",
                     "hydra.sweep.dir=sweep"]) == 0

    client = MlflowClient((tmp_path / "mlruns").as_uri())
    experiment = client.get_experiment_by_name(str(tmp_path / "sweep"))
    runs = client.search_runs([experiment.experiment_id])
    assert sorted(run.info.run_name for run in runs) == ["0", "1"]
    for run in runs:
        job = tmp_path / "sweep" / run.info.run_name
        assert run.info.status == "FINISHED"
        assert run.data.params["seed"] == run.info.run_name  # job 0 ran seed 0, job 1 seed 1
        assert run.data.params["trainer.steps"] == "6" and run.data.params["model.z_dim"] == "8"
        history = [(metric.step, metric.value) for metric in client.get_metric_history(run.info.run_id, "fd")]
        expected = logged_fd(job)
        assert [step for step, _ in sorted(history)] == [step for step, _ in expected] == [2, 4, 6]
        assert [value for _, value in sorted(history)] == pytest.approx([value for _, value in expected])
        assert run.data.metrics["best_fd"] == json.loads((job / "metrics.json").read_text())["best_fd"]
        artifacts = {artifact.path for artifact in client.list_artifacts(run.info.run_id)}
        assert {"samples.png", "metrics.json"} <= artifacts


def test_a_failed_run_is_marked_failed(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "argv", ["ganxfer"])
    with pytest.raises(SystemExit):  # the user error's exit, as the console script ends
        cli.main(["pretrain", *TINY, "logger=mlflow", "logger.tracking_uri=mlruns", "logger.experiment=broken",
                  "trainer.monitor=accuracy", "hydra.run.dir=run"])
    client = MlflowClient((tmp_path / "mlruns").as_uri())
    [run] = client.search_runs([client.get_experiment_by_name("broken").experiment_id])
    assert run.info.status == "FAILED"


@pytest.mark.parametrize("logger, module", [("tensorboard", "torch.utils.tensorboard"), ("mlflow", "mlflow.tracking")])
def test_a_missing_tracker_package_names_the_extra(tmp_path, monkeypatch, capsys, logger, module):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "argv", ["ganxfer"])
    monkeypatch.setitem(sys.modules, module, None)  # import fails as if not installed
    with pytest.raises(SystemExit):
        cli.main(["pretrain", *TINY, f"logger={logger}", "hydra.run.dir=run"])
    assert f"pip install 'ganxfer[{logger}]'" in capsys.readouterr().err
