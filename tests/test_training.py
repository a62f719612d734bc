"""Training runs through the real CLI entry point, in-process: determinism, exact resume, transfer."""

import json
import os
import subprocess
import sys
from importlib.metadata import entry_points

import pandas as pd
import pytest
import torch

from conftest import TINY, load_last
from ganxfer import checkpoint
from ganxfer.runtime import run_dir
from ganxfer.training import run as training_run


def assert_same_state(a: dict, b: dict) -> None:
    if isinstance(a, dict):
        assert a.keys() == b.keys()
        for key in a:
            assert_same_state(a[key], b[key])
    elif isinstance(a, torch.Tensor):
        assert torch.equal(a, b)
    else:
        assert a == b


def parameters(state_dict: dict) -> dict:
    """Trainable weights only: BatchNorm's running statistics move with every batch."""
    return {name: value for name, value in state_dict.items() if name.endswith(("weight", "bias"))}


def test_same_seed_gives_identical_weights_and_another_seed_does_not(ganxfer):
    first, second = ganxfer("pretrain", *TINY), ganxfer("pretrain", *TINY)
    other = ganxfer("pretrain", *TINY, "seed=1")
    assert_same_state(load_last(first)["networks"], load_last(second)["networks"])
    with pytest.raises(AssertionError):
        assert_same_state(load_last(first)["networks"], load_last(other)["networks"])


def test_resume_continues_exactly(ganxfer, capsys):
    whole = ganxfer("pretrain", *TINY, "trainer.steps=10")
    half = ganxfer("pretrain", *TINY, "trainer.steps=5")
    capsys.readouterr()
    # Logging more often changes nothing that is trained: allowed, and reported.
    resumed = ganxfer("pretrain", *TINY, "trainer.steps=10", "trainer.log_every=1",
                      f"resume={half}/checkpoints/last.ckpt")
    assert "trainer.log_every: 2 -> 1" in capsys.readouterr().out.replace("\n", "")
    whole_state, resumed_state = load_last(whole), load_last(resumed)
    assert load_last(half)["step"] == 5 and resumed_state["step"] == 10
    assert_same_state(whole_state["networks"], resumed_state["networks"])
    assert_same_state(whole_state["rng"], resumed_state["rng"])


def test_finetune_starts_from_the_source_and_scratch_does_not(ganxfer):
    source = ganxfer("pretrain", *TINY, "seed=5")  # another initialisation than the finetune runs
    ckpt = f"ckpt={source}/checkpoints/last.ckpt"
    no_steps = ["trainer.steps=1", "trainer.log_every=1"]
    full = load_last(ganxfer("finetune", *TINY, *no_steps, ckpt, "data.shots=20"))
    scratch = load_last(ganxfer("finetune", *TINY, *no_steps, ckpt, "data.shots=20", "transfer=scratch"))
    source_weights = parameters(load_last(source)["networks"]["generator"])
    # One step of Adam moves each weight by at most about lr (2e-4) from where it started.
    full_gap = max((w - source_weights[n]).abs().max() for n, w in parameters(full["networks"]["generator"]).items())
    scratch_gap = max((w - source_weights[n]).abs().max() for n, w in parameters(scratch["networks"]["generator"]).items())
    assert full_gap < 1e-3 < 0.05 < scratch_gap
    assert full["stage"] == "finetune" and full["config"]["data"]["classes"] == [5, 6, 7, 8, 9]
    assert len(full["split"]["train_rows"]) == 20


def test_log_evaluation_best_checkpoint_and_final_metrics(ganxfer):
    run = ganxfer("pretrain", *TINY, "trainer.eval_every=4", "trainer.final_metrics=[c2st]")
    log = pd.read_csv(run / "train_log.csv")
    assert list(log.columns) == ["step", "d_loss", "g_loss", "skipped", "steps_per_s", "fd", "mmd2_rbf"]
    assert log["step"].tolist() == [2, 4, 6]
    assert log["fd"].isna().tolist() == [True, False, False]  # evaluated every 4 steps and at the end
    final = json.loads((run / "metrics.json").read_text())
    assert final["step"] == 6 and final["fd"] == pytest.approx(log["fd"].iloc[-1])
    # After 6 steps the samples are easy to tell from real rows: the test must see it.
    assert 0.9 <= final["c2st_accuracy"] <= 1 and "c2st" not in log.columns
    best_step = int(log.loc[log["fd"].idxmin(), "step"])
    assert final["best_step"] == best_step and load_last(run)["step"] == 6
    assert checkpoint.load(run / "checkpoints" / "best.ckpt")["step"] == best_step
    assert (run / "samples.png").stat().st_size > 0 and (run / "curves.png").stat().st_size > 0


def scripted_evaluations(monkeypatch, fd_values: list[float], seen: list[tuple[int | None, int | None]]) -> None:
    """The run's evaluations give these fd values in turn, so that which step is best is known
    beforehand; each also records the steps that best.ckpt and last.ckpt hold as it runs (an
    evaluation comes before its step is logged and saved: the files are the earlier steps')."""
    values = iter(fd_values)

    def evaluator(run, schema, holdout, seed):
        def evaluate() -> dict:
            folder = run_dir() / "checkpoints"
            seen.append(tuple(checkpoint.load(folder / name)["step"] if (folder / name).exists() else None
                              for name in ("best.ckpt", "last.ckpt")))
            return {"fd": next(values), "mmd2_rbf": 0.0}
        return evaluate

    monkeypatch.setattr(training_run, "_evaluator", evaluator)


def test_a_step_both_best_and_last_is_written_once_and_a_later_step_gets_its_own_file(ganxfer, monkeypatch):
    seen = []
    scripted_evaluations(monkeypatch, [1.0, 2.0, 0.5], seen)  # steps 2, 4 and 6: 2 is best, then 6
    run = ganxfer("pretrain", *TINY, "trainer.eval_every=2", "trainer.ckpt_every=2")
    best, last = run / "checkpoints" / "best.ckpt", run / "checkpoints" / "last.ckpt"
    # Step 4 (worse) wrote last.ckpt afresh while best.ckpt kept step 2, though they were one file.
    assert seen == [(None, None), (2, 2), (2, 4)]
    assert best.samefile(last)  # step 6 is both: its checkpoint written once, under both names
    assert_same_state(checkpoint.load(best), checkpoint.load(last))
    assert checkpoint.load(best)["step"] == json.loads((run / "metrics.json").read_text())["best_step"] == 6


def test_without_hard_links_last_ckpt_of_the_best_step_is_written_as_usual(ganxfer, monkeypatch):
    def no_hard_links(source, destination):
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(os, "link", no_hard_links)
    scripted_evaluations(monkeypatch, [1.0], [])
    run = ganxfer("pretrain", *TINY, "trainer.steps=2", "trainer.eval_every=2", "trainer.ckpt_every=2")
    best, last = run / "checkpoints" / "best.ckpt", run / "checkpoints" / "last.ckpt"
    assert not best.samefile(last)
    assert_same_state(checkpoint.load(best), checkpoint.load(last))
    assert not list(best.parent.glob(".*.tmp"))


def test_the_command_line_imports_its_modules_without_collection_passes_and_freezes_them():
    """`ganxfer` (ganxfer/__main__.py) imports torch, Hydra and the rest with the collector off, then
    freezes what they made out of every later pass, with the collector back on for the command."""
    probe = ("import gc, sys; passes = []; gc.callbacks.append(lambda phase, info: phase == 'start' and "
             "passes.append(info['generation'])); from ganxfer.__main__ import main; sys.argv = ['ganxfer', "
             "'--help']; main(); print(passes.count(2), gc.get_freeze_count(), gc.isenabled())")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    full_passes, frozen, enabled = done.stdout.split()[-3:]
    assert full_passes == "0"  # while importing torch's modules, an enabled collector makes several
    assert int(frozen) > 100_000 and enabled == "True"
    assert entry_points(group="console_scripts")["ganxfer"].value == "ganxfer.__main__:main"


def test_a_training_run_imports_neither_scikit_learn_nor_matplotlib_nor_scipy_nor_pillow(tmp_path):
    """They take seconds to import and training uses neither (evaluate and figures do, on use);
    nor does it need scipy for the fd and mmd2_rbf it logs (a tenth of a second each for
    scipy.linalg and scipy.spatial), nor Pillow on a table (data=images reads files with it)."""
    table = tmp_path / "small.csv"
    table.write_text("a,b\n" + "".join(f"{i % 7}.5,{i % 3}\n" for i in range(40)))
    script = ("import sys\nfrom ganxfer import cli\n"
              f"code = cli.main(['pretrain', 'data=csv', 'data.path={table}', 'trainer.steps=1', "
              f"'hydra.run.dir={tmp_path / 'run'}'])\n"
              "print(sorted({name.split('.')[0] for name in sys.modules} & {'sklearn', 'matplotlib', 'scipy', 'PIL'}), "
              "code)")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert "[] 0" in result.stdout.splitlines()
