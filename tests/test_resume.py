"""A resumed run carries on the run it continues: in the same run folder, with one train_log.csv
that reads as an uninterrupted run's, and with the best evaluation of the steps before it."""

import json
import shutil

import pandas as pd
import pytest

from conftest import TINY, assert_user_error, load_last, run_in_process
from ganxfer import checkpoint, metrics
from ganxfer.training.writer import RunWriter, _drop_rows_after

EVALUATED = [*TINY, "trainer.log_every=1", "trainer.eval_every=2"]  # 6 steps, checkpoints at 3 and 6


def killed_before_saving(monkeypatch, killed_at: int) -> None:
    """Runs from now on die as a SIGKILL ends them, just before last.ckpt of step `killed_at` is
    written: the rows logged since the previous checkpoint stay in train_log.csv."""
    save = RunWriter.save

    def save_or_die(self, step, path=None):
        if step == killed_at and path is None:
            raise SystemExit(137)
        save(self, step, path)

    monkeypatch.setattr(RunWriter, "save", save_or_die)


def test_a_killed_run_resumed_goes_on_in_its_folder_and_logs_each_step_once(ganxfer, tmp_path):
    whole = ganxfer("pretrain", *EVALUATED)
    killed = tmp_path / "killed"
    with pytest.MonkeyPatch.context() as patch:
        killed_before_saving(patch, killed_at=6)
        assert run_in_process("pretrain", *EVALUATED, f"hydra.run.dir={killed}") == 137
    assert load_last(killed)["step"] == 3
    assert pd.read_csv(killed / "train_log.csv")["step"].tolist() == [1, 2, 3, 4, 5, 6]
    record = (killed / ".hydra" / "overrides.yaml").read_text()

    assert run_in_process("pretrain", *EVALUATED, f"resume={killed}/checkpoints/last.ckpt") == 0
    assert not (tmp_path / "outputs").exists()  # no new run folder: the run went on in its own
    assert load_last(killed)["step"] == 6
    assert (killed / ".hydra" / "overrides.yaml").read_text() == record  # the command that began the run
    resumed_log, whole_log = pd.read_csv(killed / "train_log.csv"), pd.read_csv(whole / "train_log.csv")
    assert resumed_log["step"].tolist() == whole_log["step"].tolist() == [1, 2, 3, 4, 5, 6]
    # Resuming is exact: the losses and evaluations of every step are the uninterrupted run's too.
    pd.testing.assert_frame_equal(resumed_log.drop(columns="steps_per_s"), whole_log.drop(columns="steps_per_s"))
    resumed_best, whole_best = (json.loads((run / "metrics.json").read_text()) for run in (killed, whole))
    assert (resumed_best["best_step"], resumed_best["best_fd"]) == (whole_best["best_step"], whole_best["best_fd"])
    assert checkpoint.load(killed / "checkpoints" / "best.ckpt")["step"] == whole_best["best_step"]


def test_a_worse_evaluation_after_a_resume_keeps_the_best_from_before_it(ganxfer, monkeypatch):
    """A 4-step run continued to 6 steps: its evaluations get worse (1, 2, then 3 after the resume),
    so the best stays at step 2, in best.ckpt and metrics.json alike."""
    evaluations = iter([1.0, 2.0, 3.0])
    monkeypatch.setattr(metrics, "quick", lambda real, fake, seed=0: {"fd": next(evaluations), "mmd2_rbf": 0.0})
    run = ganxfer("pretrain", *EVALUATED, "trainer.steps=4")
    assert load_last(run)["best"] == {"step": 2, "fd": 1.0}
    assert run_in_process("pretrain", *EVALUATED, f"resume={run}/checkpoints/last.ckpt") == 0  # in the same folder
    assert next(evaluations, None) is None  # steps 2, 4 and 6 were evaluated
    final = json.loads((run / "metrics.json").read_text())
    assert (final["step"], final["fd"]) == (6, 3.0)
    assert (final["best_step"], final["best_fd"]) == (2, 1.0)
    assert checkpoint.load(run / "checkpoints" / "best.ckpt")["step"] == 2
    assert load_last(run)["best"] == {"step": 2, "fd": 1.0}


def test_a_refused_resume_leaves_the_run_folder_as_it_was(ganxfer, tmp_path, ganxfer_outcome):
    run = ganxfer("pretrain", *TINY, "trainer.steps=3")
    before = {path: path.read_bytes() for path in run.rglob("*") if path.is_file() and path.suffix != ".log"}
    refused = ganxfer_outcome(tmp_path, "pretrain", *TINY, "model.g_hidden=16", f"resume={run}/checkpoints/last.ckpt")
    assert_user_error(refused, "model.g_hidden: 32 -> 16")
    assert len(refused.stderr.strip().splitlines()) == 1  # the reason alone: the folder was the run's before
    assert before == {path: path.read_bytes() for path in run.rglob("*") if path.is_file() and path.suffix != ".log"}


def test_a_resume_of_a_lone_checkpoint_or_best_ckpt_or_into_a_given_folder_leaves_the_run_folder_alone(
        ganxfer, tmp_path):
    first = ganxfer("pretrain", *TINY, "trainer.steps=3")
    lone = tmp_path / "lone.ckpt"
    shutil.copy(first / "checkpoints" / "last.ckpt", lone)
    for other in (lone, first / "checkpoints" / "best.ckpt"):  # neither is the run's last.ckpt
        assert run_in_process("pretrain", *TINY, f"resume={other}") == 0
        new_runs = list((tmp_path / "outputs" / "pretrain").glob("*/*/checkpoints/last.ckpt"))
        assert new_runs and all(checkpoint.load(run)["step"] == 6 for run in new_runs)
        shutil.rmtree(tmp_path / "outputs")  # the next run may start within the same second
    given = ganxfer("pretrain", *TINY, f"resume={first}/checkpoints/last.ckpt")
    assert load_last(given)["step"] == 6
    assert load_last(first)["step"] == 3
    assert pd.read_csv(first / "train_log.csv")["step"].tolist() == [2, 3]


def test_a_new_run_in_an_earlier_runs_folder_sets_the_earlier_run_aside_and_says_so(tmp_path, monkeypatch):
    """Not a resume: the earlier run's rows would read as this run's, its figures and checkpoints
    would stay beside this one's until replaced, and a failed new run would leave a mixed folder."""
    monkeypatch.chdir(tmp_path)
    folder = tmp_path / "run"
    assert run_in_process("pretrain", *TINY, "trainer.steps=4", f"hydra.run.dir={folder}") == 0
    first = {name: (folder / name).read_bytes() for name in ("train_log.csv", "metrics.json", "curves.png")}
    assert run_in_process("pretrain", *TINY, "trainer.steps=1", f"hydra.run.dir={folder}") == 0
    assert pd.read_csv(folder / "train_log.csv")["step"].tolist() == [1]
    assert load_last(folder)["step"] == 1 and not (folder / "curves.png").exists()  # one logged step: no curves
    [aside] = folder.glob("earlier-*")
    assert {name: (aside / name).read_bytes() for name in first} == first
    assert checkpoint.load(aside / "checkpoints" / "last.ckpt")["step"] == 4
    assert (folder / "pretrain.log").read_text().count("held an earlier run, not resumed") == 1

    # A finetune that would write where its source lies is refused, and moves nothing.
    result = run_in_process("finetune", f"ckpt={folder}/checkpoints/last.ckpt", "data=digits_target", *TINY,
                            "trainer.steps=1", f"hydra.run.dir={folder}")
    assert result == 2 and load_last(folder)["step"] == 1 and len(list(folder.glob("earlier-*"))) == 1


def test_dropping_the_rows_after_the_resumed_step_keeps_every_complete_row_before_it(tmp_path):
    log = tmp_path / "train_log.csv"
    rows = "".join(f"{step},0.5,0.5,0,100.0,,\r\n" for step in range(1, 7))
    log.write_bytes(b"step,d_loss,g_loss,skipped,steps_per_s,fd,mmd2_rbf\r\n" + rows.encode() + b"7,0.")  # 7: cut short
    _drop_rows_after(log, 4)
    assert log.read_bytes().decode().split("\r\n")[1:] == [f"{step},0.5,0.5,0,100.0,," for step in range(1, 5)] + [""]
    _drop_rows_after(log, 9)  # a complete log up to its resumed step is kept as it is
    assert pd.read_csv(log)["step"].tolist() == [1, 2, 3, 4]
