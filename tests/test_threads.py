"""trainer.threads: what auto picks, that the count reaches torch, and that bad values are refused."""

import pytest
import torch

from conftest import TINY, run_in_process
from ganxfer.errors import UserError
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
    monkeypatch.setattr(threads, "idle_cores", lambda: 4)
    assert threads.choose("auto", parameters=60_000, batch_size=64) == 1
    assert threads.choose("auto", parameters=2_000_000, batch_size=512) == 4  # 1e9 multiply-adds: 100 wanted
    assert threads.choose("auto", parameters=threads.WORK_PER_THREAD * 2, batch_size=1) == 2


def test_auto_leaves_the_cores_other_processes_are_running_on(monkeypatch):
    monkeypatch.setattr(threads, "available_cores", lambda: 4)
    assert 1 <= threads.idle_cores() <= 4
    monkeypatch.setattr(threads, "idle_cores", lambda: 1)  # three busy processes beside this one
    assert threads.choose("auto", parameters=2_000_000, batch_size=512) == 1


def test_a_given_count_and_omp_num_threads_are_kept(monkeypatch):
    assert threads.choose(3, parameters=10, batch_size=1) == 3
    monkeypatch.setenv("OMP_NUM_THREADS", "5")
    assert threads.choose("auto", parameters=10, batch_size=1) == 5


@pytest.mark.parametrize("value", [0, -1, "many", True, 1.5])
def test_values_other_than_auto_or_a_positive_integer_are_refused(value):
    with pytest.raises(UserError, match="trainer.threads"):
        threads.choose(value, parameters=10, batch_size=1)


def test_the_count_auto_picks_reaches_torch(ganxfer, monkeypatch):
    ganxfer("pretrain", *TINY)
    assert torch.get_num_threads() == 1  # the tiny model's steps are small work
    monkeypatch.setattr(threads, "WORK_PER_THREAD", 1)  # every model is large work now
    monkeypatch.setattr(threads, "idle_cores", lambda: 3)
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
