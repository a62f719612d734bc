"""trainer.steps=auto for a pretrain: the run stops when the fd on its training rows stops
improving, never reads the held-out rows to decide, records where and why, and resumes exactly."""

import dataclasses
import json
import math
import os
import signal

import numpy as np
import pytest
import torch

from conftest import TINY, load_last, run_in_process
from ganxfer import data, distributed
from ganxfer.training import stopping
from ganxfer.training.stopping import Plateau

# Improves by more than 10% three times, then creeps down by less than 10% per check.
IMPROVING_THEN_FLAT = [10.0, 8.0, 6.0, 5.9, 5.8, 5.7, 5.6, 5.5, 5.4, 5.3]


def stop_step(rule: Plateau, values) -> int | None:
    """The step the rule stops at, fed `values` at its checks; None if it never does."""
    for number, value in enumerate(values, start=1):
        if rule.check(number * rule.every, value):
            return number * rule.every
    return None


def test_the_rule_stops_after_patience_checks_without_a_gain_of_the_margin():
    rule = Plateau(every=10, margin=0.1, patience=3, floor=0, ceiling=1000)
    # The best (6.0) is at the third check; the creep below it is no gain of 10%.
    assert stop_step(rule, IMPROVING_THEN_FLAT) == 60
    assert rule.best == 6.0 and rule.best_step == 30 and rule.stopped_at == 60


def test_the_rule_never_stops_before_its_floor():
    rule = Plateau(every=10, margin=0.1, patience=3, floor=85, ceiling=1000)
    assert stop_step(rule, IMPROVING_THEN_FLAT) == 90


def test_a_gain_of_the_margin_starts_the_patience_again_and_a_nan_is_no_gain():
    rule = Plateau(every=10, margin=0.1, patience=3, floor=0, ceiling=1000)
    assert stop_step(rule, [10.0, math.nan, 9.5, 8.0, math.nan, 7.9, 7.8]) == 70
    assert rule.best_step == 40


def test_a_signal_that_keeps_improving_never_stops_the_rule():
    rule = Plateau(every=10, margin=0.1, patience=1, floor=0, ceiling=1000)
    assert stop_step(rule, [0.5 ** number for number in range(100)]) is None


@pytest.fixture
def quick_rule(monkeypatch):
    """The rule at a tiny run's scale: a check every 2 steps, a ceiling of 40."""
    for name, value in {"CHECK_EVERY": 2, "MARGIN": 0.2, "PATIENCE": 2, "FLOOR": 4, "CEILING": 40}.items():
        monkeypatch.setattr(stopping, name, value)


def metrics_of(run_dir) -> dict:
    return json.loads((run_dir / "metrics.json").read_text())


def test_an_auto_pretrain_stops_before_its_ceiling_and_records_where_and_why(ganxfer, quick_rule):
    run = ganxfer("pretrain", *TINY, "trainer.steps=auto")
    recorded, state = metrics_of(run), load_last(run)
    stopped = recorded["step"]
    assert stopped < 40 and stopped >= 4 and stopped % 2 == 0
    assert state["step"] == stopped and state["stopping"]["stopped_at"] == stopped
    assert recorded["stopping"]["step"] == stopped and "no gain" in recorded["stopping"]["why"]
    assert recorded["stopping"]["best_fd"] == state["stopping"]["best"]
    assert f"trainer.steps=auto: stopped after step {stopped}, training fd" in (run / "pretrain.log").read_text()


def test_an_auto_pretrain_whose_signal_keeps_improving_ends_at_the_ceiling(ganxfer, quick_rule, monkeypatch):
    monkeypatch.setattr(stopping, "PATIENCE", 10**6)
    run = ganxfer("pretrain", *TINY, "trainer.steps=auto")
    assert metrics_of(run)["step"] == 40 and load_last(run)["stopping"]["stopped_at"] is None
    assert "ceiling of 40 steps" in metrics_of(run)["stopping"]["why"]


def test_an_explicit_number_of_steps_is_run_exactly(ganxfer, monkeypatch):
    # A rule that would stop at the second step, were it asked.
    for name, value in {"CHECK_EVERY": 1, "MARGIN": 0.99, "PATIENCE": 1, "FLOOR": 1}.items():
        monkeypatch.setattr(stopping, name, value)
    run = ganxfer("pretrain", *TINY, "trainer.steps=6")
    assert metrics_of(run)["step"] == 6 and "stopping" not in metrics_of(run)
    assert load_last(run)["step"] == 6 and load_last(run)["stopping"] is None


def test_the_stopping_signal_never_reads_the_held_out_rows(ganxfer, quick_rule, monkeypatch):
    honest = ganxfer("pretrain", *TINY, "trainer.steps=auto")
    prepare = data.prepare

    def with_garbage_held_out(*args, **kwargs):
        prepared = prepare(*args, **kwargs)
        noise = np.random.default_rng(0).integers(0, 17, prepared.holdout.shape)
        return dataclasses.replace(prepared, holdout=prepared.holdout.copy(deep=True).clip(0, 0) + noise)

    monkeypatch.setattr(data, "prepare", with_garbage_held_out)
    garbage = ganxfer("pretrain", *TINY, "trainer.steps=auto")
    assert metrics_of(garbage)["fd"] != metrics_of(honest)["fd"]  # the held-out rows did change
    assert metrics_of(garbage)["stopping"] == metrics_of(honest)["stopping"]
    assert load_last(garbage)["stopping"] == load_last(honest)["stopping"]


def test_a_killed_auto_run_resumed_ends_as_an_uninterrupted_one(ganxfer, quick_rule, monkeypatch, tmp_path):
    whole = load_last(ganxfer("pretrain", *TINY, "trainer.steps=auto"))
    stopped = whole["step"]
    killed_at = stopped - 2  # a check without a gain: the rule's count of them must survive the kill
    assert killed_at > whole["stopping"]["best_step"]
    restart_stream = distributed.restart_stream

    def terminated_at(rng, seed, step):
        restart_stream(rng, seed, step)
        if step == killed_at:
            os.kill(os.getpid(), signal.SIGTERM)  # the loop saves this step and stops

    with monkeypatch.context() as patch:
        patch.setattr(distributed, "restart_stream", terminated_at)
        killed = tmp_path / "killed"
        assert run_in_process("pretrain", *TINY, "trainer.steps=auto", f"hydra.run.dir={killed}") != 0
    assert load_last(killed)["step"] == killed_at
    resumed = load_last(ganxfer("pretrain", *TINY, "trainer.steps=auto", f"resume={killed}/checkpoints/last.ckpt"))
    assert resumed["step"] == stopped and resumed["stopping"] == whole["stopping"]
    for network in ("generator", "discriminator", "ema"):
        for key, value in whole["networks"][network].items():
            assert torch.equal(value, resumed["networks"][network][key]), (network, key)


def test_a_run_that_auto_stopped_is_not_resumed_toward_the_same_rule(ganxfer, quick_rule, ganxfer_outcome, tmp_path):
    run = ganxfer("pretrain", *TINY, "trainer.steps=auto")
    stopped = load_last(run)["step"]
    outcome = ganxfer_outcome(tmp_path, "pretrain", *TINY, "trainer.steps=auto",
                              f"resume={run}/checkpoints/last.ckpt")
    assert outcome.returncode == 2 and "Traceback" not in outcome.stderr
    assert f"stopped by trainer.steps=auto at step {stopped}" in outcome.stderr
