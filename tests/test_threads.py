"""trainer.threads: what auto picks, that the count reaches torch, that bad values are refused,
and that a run does not change with the machine's load."""

import builtins
import io
import os

import pandas as pd
import pytest
import torch

from conftest import TINY, load_last, run_in_process
from ganxfer.errors import UserError
from ganxfer.settings import check_threads
from ganxfer.training import threads


@pytest.fixture(autouse=True)
def torch_threads_restored(monkeypatch):
    """Each test starts with two intra-op threads (so that a run choosing one shows), no
    OMP_NUM_THREADS, and leaves torch as it found it."""
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(before)


def test_auto_takes_one_thread_for_small_work_and_more_for_large_within_the_cores(monkeypatch):
    monkeypatch.setattr(threads, "available_cores", lambda: 4)
    assert threads.choose("auto", parameters=60_000, batch_size=64) == 1
    assert threads.choose("auto", parameters=2_000_000, batch_size=512) == 4  # 1e9 multiply-adds: 100 wanted
    assert threads.choose("auto", parameters=threads.WORK_PER_THREAD * 2, batch_size=1) == 2


def machine_running(monkeypatch, processes: int) -> None:
    """The machine as its load figures show it with `processes` running: /proc/loadavg (whose
    fourth field counts the threads running now) and os.getloadavg."""
    load = float(processes)
    monkeypatch.setattr(os, "getloadavg", lambda: (load, load, load))
    real_open = builtins.open

    def open_with_load(file, *args, **kwargs):
        if str(file) == "/proc/loadavg":
            return io.StringIO(f"{load:.2f} {load:.2f} {load:.2f} {processes}/900 4242\n")
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", open_with_load)


def test_a_fixed_seed_trains_and_samples_alike_on_a_quiet_and_a_busy_machine(ganxfer, monkeypatch):
    monkeypatch.setattr(threads, "available_cores", lambda: 4)
    monkeypatch.setattr(threads, "WORK_PER_THREAD", 1)  # every model is large work: auto may take several threads

    def run_and_sample(processes: int) -> tuple[int, dict, pd.DataFrame]:
        with pytest.MonkeyPatch.context() as load:
            machine_running(load, processes)
            run = ganxfer("pretrain", *TINY)
            count = torch.get_num_threads()
            sampled = ganxfer("sample", f"ckpt={run}/checkpoints/last.ckpt", "n=200")
        return count, load_last(run)["networks"], pd.read_csv(sampled / "samples.csv")

    quiet_threads, quiet_networks, quiet_rows = run_and_sample(processes=1)  # this run alone
    busy_threads, busy_networks, busy_rows = run_and_sample(processes=64)
    assert busy_threads == quiet_threads == 4
    for network in ("generator", "discriminator", "ema"):
        for key, value in quiet_networks[network].items():
            assert torch.equal(value, busy_networks[network][key]), (network, key)
    pd.testing.assert_frame_equal(quiet_rows, busy_rows, check_exact=True)


def test_a_given_count_and_omp_num_threads_are_kept(monkeypatch):
    assert threads.choose(3, parameters=10, batch_size=1) == 3
    monkeypatch.setenv("OMP_NUM_THREADS", "5")
    assert threads.choose("auto", parameters=10, batch_size=1) == 5


@pytest.mark.parametrize("value", [0, -1, "many", True, 1.5])
def test_values_other_than_auto_or_a_positive_integer_are_refused(value):
    with pytest.raises(UserError, match="trainer.threads"):
        check_threads(value)


def test_the_count_auto_picks_reaches_torch(ganxfer, monkeypatch):
    ganxfer("pretrain", *TINY)
    assert torch.get_num_threads() == 1  # the tiny model's steps are small work
    monkeypatch.setattr(threads, "WORK_PER_THREAD", 1)  # every model is large work now
    monkeypatch.setattr(threads, "available_cores", lambda: 3)
    ganxfer("pretrain", *TINY)
    assert torch.get_num_threads() == 3


def test_an_explicit_count_reaches_torch(ganxfer):
    ganxfer("pretrain", *TINY, "trainer.threads=1")
    assert torch.get_num_threads() == 1


@pytest.mark.parametrize("value", ["0", "many", "[1,2]"])
def test_the_cli_refuses_a_bad_count_before_training(tmp_path, monkeypatch, capsys, value):
    monkeypatch.chdir(tmp_path)
    assert run_in_process("pretrain", *TINY, f"trainer.threads={value}") == 2
    assert "trainer.threads" in capsys.readouterr().err
