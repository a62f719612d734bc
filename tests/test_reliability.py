"""Interrupted runs: a signal stops training cleanly and resumably; a kill never corrupts last.ckpt."""

import random
import signal
import subprocess
import time

import torch

from conftest import console_script, load_last
from ganxfer import checkpoint

# One thread, given outright to the stopped run and to the runs in this process that it is compared
# with: the sum order of a matrix product, and so the last bits of the weights, depend on the thread
# count, which auto would take from an OMP_NUM_THREADS in the environment. On the CPU, as TINY is.
ENDLESS = ["trainer.steps=1000000", "trainer.log_every=1000000", "trainer.ckpt_every=1",
           "model.z_dim=4", "model.g_hidden=8", "model.d_hidden=8", "trainer.batch_size=8", "trainer.threads=1",
           "trainer.device=cpu"]


def start(tmp_path, run_dir):
    return subprocess.Popen([console_script(), "pretrain", *ENDLESS, f"hydra.run.dir={run_dir}"], cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_for(path, process, timeout=60.0):
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "no checkpoint appeared"
        time.sleep(0.05)


def test_sigterm_saves_a_checkpoint_that_resumes_exactly(tmp_path, ganxfer):
    run = tmp_path / "stopped"
    process = start(tmp_path, run)
    wait_for(run / "checkpoints" / "last.ckpt", process)
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 128 + signal.SIGTERM
    assert "SIGTERM" in stderr and "resume=" in stderr and "Traceback" not in stderr
    stopped_at = load_last(run)["step"]
    assert 1 <= stopped_at < 1000000

    total = [f"trainer.steps={stopped_at + 5}"]
    resumed = load_last(ganxfer("pretrain", *ENDLESS, *total, f"resume={run}/checkpoints/last.ckpt"))
    whole = load_last(ganxfer("pretrain", *ENDLESS, *total))
    for network in ("generator", "discriminator", "ema"):
        for key, value in whole["networks"][network].items():
            assert torch.equal(value, resumed["networks"][network][key]), (network, key)


def test_sigkill_during_saves_never_leaves_a_broken_checkpoint(tmp_path):
    random.seed(0)
    for attempt in range(20):
        run = tmp_path / f"killed{attempt}"
        process = start(tmp_path, run)
        wait_for(run / "checkpoints" / "last.ckpt", process)
        time.sleep(random.uniform(0, 0.3))  # a checkpoint is written every step: land anywhere in one
        process.kill()
        process.communicate()
        state = checkpoint.load(run / "checkpoints" / "last.ckpt")
        assert state["step"] >= 1
        # A killed write leaves its temporary file; the next save clears earlier ones.
        assert len(list((run / "checkpoints").glob(".last.ckpt.*.tmp"))) <= 1
