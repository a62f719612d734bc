"""Several processes training one run: torchrun, 2 CPU processes, gloo."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import torch.distributed as dist

from conftest import TINY, load_last, settings_of
from ganxfer import cli, distributed, transfer
from ganxfer.errors import UserError

# Every part that averages or agrees over ranks: R1 (a gradient through D's input), adaptive
# augmentation (ADA's signal, summed over 3 steps, so that checkpoints at even steps hold a part
# sum), and BatchNorm in G (buffers broadcast from rank 0). One thread, given outright: the runs
# whose weights are compared must sum their matrix products in one order, and torchrun's own
# OMP_NUM_THREADS=1 for its workers is not a setting of ganxfer's.
SETTINGS = [*TINY, "trainer.ckpt_every=2", "loss.r1_gamma=0.1", "augment=tabular", "augment.adaptive=true",
            "augment.interval=3", "trainer.threads=1"]


def torchrun_command(run_dir, *overrides: str) -> list[str]:
    return [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
            "-m", "ganxfer", "pretrain", *SETTINGS, *overrides, f"hydra.run.dir={run_dir}"]


def torchrun(tmp_path, run_dir, *overrides: str) -> subprocess.CompletedProcess:
    finished = subprocess.run(torchrun_command(run_dir, *overrides), cwd=tmp_path, capture_output=True,
                              text=True, timeout=300)
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
    # Rank 0 drew exactly the batches of one process with the same seed: its stream is the same.
    assert torch.equal(from_two["rng"]["batches"], alone["rng"]["batches"])
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


def test_a_signal_to_one_rank_stops_every_rank_at_one_step_that_resumes_exactly(tmp_path):
    stopped = tmp_path / "stopped"
    run = subprocess.Popen(torchrun_command(stopped, "trainer.steps=1000000", "trainer.log_every=1"), cwd=tmp_path,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_for_rows(stopped / "train_log.csv", 3, run)
        os.kill(worker_pid(run.pid, rank=1), signal.SIGTERM)  # as a cluster may signal one node first
        _, error = run.communicate(timeout=120)
    finally:
        run.kill()
    assert run.returncode != 0
    assert "(rank 1)" in error and "stopped by SIGTERM" in error
    step = load_last(stopped)["step"]
    assert 2 < step < 1_000_000
    logged = [int(line.split(",")[0]) for line in (stopped / "train_log.csv").read_text().splitlines()[1:]]
    assert logged == list(range(1, step + 1))  # rank 0 saved the last step it logged

    # Resumed, it is the run that was never stopped (the other rank's batches included).
    resumed, whole = tmp_path / "resumed", tmp_path / "whole"
    torchrun(tmp_path, resumed, f"trainer.steps={step + 2}", f"resume={stopped}/checkpoints/last.ckpt")
    torchrun(tmp_path, whole, f"trainer.steps={step + 2}")
    for name, value in weights(load_last(whole)).items():
        assert torch.equal(value, weights(load_last(resumed))[name]), name
    assert torch.equal(load_last(whole)["augment"]["p"], load_last(resumed)["augment"]["p"])


def wait_for_rows(log: Path, rows: int, run: subprocess.Popen) -> None:
    deadline = time.monotonic() + 120
    while not (log.exists() and len(log.read_text().splitlines()) > rows):
        assert run.poll() is None and time.monotonic() < deadline, run.stderr.read()[-3000:]
        time.sleep(0.05)


def worker_pid(torchrun_pid: int, rank: int) -> int:
    """The process that torchrun started as `rank` (Linux: read from /proc)."""
    for child in Path(f"/proc/{torchrun_pid}/task/{torchrun_pid}/children").read_text().split():
        environment = Path(f"/proc/{child}/environ").read_bytes().split(b"\0")
        if f"RANK={rank}".encode() in environment:
            return int(child)
    raise AssertionError(f"no worker of rank {rank} under torchrun")


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
    minegan = transfer.get(settings_of("transfer", {"name": "minegan", "miner_hidden": 8, "mine_steps": 2}))
    with pytest.raises(UserError, match="changes which weights train"):
        distributed.check_strategy(minegan)
    distributed.check_strategy(transfer.get(settings_of("transfer", {"name": "full"})))


def test_other_ranks_draw_their_own_batches_from_seed_rank_and_step_alone(monkeypatch):
    def stream(rank: int, seed: int, step: int, earlier_draws: int = 0) -> torch.Tensor:
        monkeypatch.setattr(distributed, "rank", lambda: rank)
        rng = torch.Generator()
        torch.rand(earlier_draws, generator=rng)
        distributed.restart_stream(rng, seed, step)
        return torch.rand(4, generator=rng)

    assert torch.equal(stream(1, 7, 3), stream(1, 7, 3, earlier_draws=100))  # what came before does not count
    assert not torch.equal(stream(1, 7, 3), stream(1, 7, 4))
    assert not torch.equal(stream(1, 7, 3), stream(2, 7, 3))
    assert not torch.equal(stream(1, -1, 3), stream(1, 1, 3))  # any integer seed, negative too
    assert not torch.equal(stream(0, 7, 3), stream(0, 7, 3, earlier_draws=100))  # rank 0 is left alone


@pytest.mark.parametrize("device", ["cuda:1", "mps"])
def test_one_device_for_every_rank_is_refused(one_rank_group, device):
    with pytest.raises(UserError, match="cannot be shared by several processes"):
        distributed.device(torch.device(device))
    assert distributed.device(torch.device("cpu")) == torch.device("cpu")


def test_ranks_with_different_weights_are_caught(one_rank_group, monkeypatch):
    network = torch.nn.Linear(3, 2)
    distributed.check_in_step({"generator": list(network.parameters())}, step=1)  # one rank agrees with itself

    def gather_from_a_rank_that_drifted(gathered, summary):
        gathered[0].copy_(summary)
        gathered.append(summary + 1e-3)
    monkeypatch.setattr(dist, "all_gather", gather_from_a_rank_that_drifted)
    with pytest.raises(UserError, match="generator state differs at step 7"):
        distributed.check_in_step({"generator": list(network.parameters())}, step=7)


def test_one_process_never_starts_a_process_group(ganxfer):
    assert "WORLD_SIZE" not in os.environ
    ganxfer("pretrain", *TINY)
    assert not dist.is_initialized()


def test_a_torchrun_process_that_finished_its_run_ends_without_the_interpreters_teardown(monkeypatch):
    """(Where gloo's threads aborted a finished rank now and then.) A process that failed returns
    its code and ends as usual."""
    ended = []
    monkeypatch.setattr(distributed, "launched", lambda: True)
    monkeypatch.setattr(os, "_exit", ended.append)
    monkeypatch.setattr(distributed.logging, "shutdown", lambda: ended.append("logs flushed"))
    monkeypatch.setattr(cli, "check_and_run", lambda stage, overrides: 0)
    cli.main(["pretrain"])
    assert ended == ["logs flushed", 0]
    monkeypatch.setattr(cli, "check_and_run", lambda stage, overrides: 2)
    assert cli.main(["pretrain"]) == 2 and ended == ["logs flushed", 0]


def test_notes_on_how_the_settings_were_taken_are_said_once_under_torchrun(monkeypatch, capsys):
    """Every process that torchrun starts reads the same command line: rank 0 alone says what it
    made of it, before the processes join."""
    monkeypatch.setenv("WORLD_SIZE", "2")
    for rank, notes in (("0", 1), ("1", 0), (None, 1)):
        if rank is None:
            monkeypatch.delenv("RANK")  # a process of its own
        else:
            monkeypatch.setenv("RANK", rank)
        assert cli.renamed_keys(["augment.target=0.7"]) == ["augment.r_target=0.7"]
        assert capsys.readouterr().err.count("augment.target is now called augment.r_target") == notes, rank
