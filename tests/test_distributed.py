"""Several processes training one run: torchrun, 2 CPU processes, gloo."""

import os
import subprocess
import sys

import pytest
import torch
import torch.distributed as dist

from conftest import TINY, load_last
from ganxfer import cli, distributed, transfer
from ganxfer.errors import UserError

# Every part that averages or agrees over ranks: R1 (a gradient through D's input), adaptive
# augmentation (ADA's signal), and BatchNorm in G (buffers broadcast from rank 0).
SETTINGS = [*TINY, "trainer.ckpt_every=2", "loss.r1_gamma=0.1", "augment=tabular", "augment.adaptive=true",
            "augment.interval=1"]


def torchrun(tmp_path, run_dir, *overrides: str) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
               "-m", "ganxfer", "pretrain", *SETTINGS, *overrides, f"hydra.run.dir={run_dir}"]
    finished = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert finished.returncode == 0, finished.stderr[-3000:]
    return finished


def weights(state: dict) -> dict:
    return {**state["networks"]["generator"], **state["networks"]["discriminator"]}


def test_two_processes_train_one_run_that_resumes_exactly_in_two_processes_or_one(tmp_path, ganxfer):
    whole = tmp_path / "whole"
    finished = torchrun(tmp_path, whole, "trainer.steps=4")
    assert finished.stdout.count("writing to") == 1  # only rank 0 speaks
    assert sorted(path.name for path in tmp_path.iterdir()) == ["whole"]  # one run directory for both ranks
    assert [line.split(",")[0] for line in (whole / "train_log.csv").read_text().splitlines()] == ["step", "2", "4"]
    from_two = load_last(whole)

    # The checkpoint is a single-process one: same keys, same weights' names and shapes.
    alone = load_last(ganxfer("pretrain", *SETTINGS, "trainer.steps=4"))
    assert from_two.keys() == alone.keys()
    assert {k: v.shape for k, v in weights(from_two).items()} == {k: v.shape for k, v in weights(alone).items()}
    # ...but not a single process's weights: the second rank's batches counted.
    assert any(not torch.equal(a, b) for a, b in zip(weights(from_two).values(), weights(alone).values())
               if a.is_floating_point())

    # Stopped at step 2 and resumed in two processes: exactly the uninterrupted run.
    first_half = tmp_path / "first_half"
    torchrun(tmp_path, first_half, "trainer.steps=2")
    resumed = tmp_path / "resumed"
    torchrun(tmp_path, resumed, "trainer.steps=4", f"resume={first_half}/checkpoints/last.ckpt")
    for name, value in weights(from_two).items():
        assert torch.equal(value, weights(load_last(resumed))[name]), name

    # And one process takes it on from there.
    continued = load_last(ganxfer("pretrain", *SETTINGS, "trainer.steps=6", f"resume={whole}/checkpoints/last.ckpt"))
    assert continued["step"] == 6


@pytest.mark.parametrize("args, message", [
    (["evaluate", "ckpt=latest"], "evaluate runs in one process"),
    (["pretrain", "-m", "seed=0,1"], "a sweep (-m)"),
])
def test_torchrun_refuses_what_it_cannot_run(tmp_path, monkeypatch, capsys, args, message):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("WORLD_SIZE", "2")
    assert cli.main(args) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "outputs").exists()


def test_a_process_told_of_others_that_cannot_reach_them_says_so(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    for name, value in {"WORLD_SIZE": "2", "RANK": "0", "LOCAL_RANK": "0"}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("MASTER_ADDR", raising=False)
    assert cli.main(["pretrain", *TINY]) == 2
    error = capsys.readouterr().err
    assert "could not join the others" in error and "torchrun" in error and "Traceback" not in error
    assert not dist.is_initialized()


@pytest.fixture
def one_rank_group(monkeypatch):
    """A process group of one: `distributed.active()` without starting other processes."""
    dist.init_process_group("gloo", store=dist.HashStore(), rank=0, world_size=1)
    yield
    dist.destroy_process_group()


def test_strategies_that_thaw_weights_mid_run_are_refused_with_several_ranks(one_rank_group):
    from omegaconf import OmegaConf

    minegan = transfer.get(OmegaConf.create({"name": "minegan", "miner_hidden": 8, "mine_steps": 2}))
    with pytest.raises(UserError, match="changes which weights train"):
        distributed.check_strategy(minegan)
    distributed.check_strategy(transfer.get(OmegaConf.create({"name": "full"})))


def test_ranks_with_different_weights_are_caught(one_rank_group, monkeypatch):
    network = torch.nn.Linear(3, 2)
    distributed.check_in_step({"generator": network}, step=1)  # one rank agrees with itself

    def gather_from_a_rank_that_drifted(gathered, summary):
        gathered[0].copy_(summary)
        gathered.append(summary + 1e-3)
    monkeypatch.setattr(dist, "all_gather", gather_from_a_rank_that_drifted)
    with pytest.raises(UserError, match="weights differ at step 7"):
        distributed.check_in_step({"generator": network}, step=7)


def test_one_process_never_starts_a_process_group(ganxfer):
    assert "WORLD_SIZE" not in os.environ
    ganxfer("pretrain", *TINY)
    assert not dist.is_initialized()
