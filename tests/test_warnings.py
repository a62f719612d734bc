"""Warnings appear when they are useful, and once: a finetune on a target beyond the source's
range is warned of (the range kept, or widened with data.range=widen) unless data.refit=true fits
that range; a sweep shows each distinct warning
once on the console, and every job's log keeps its own."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from conftest import TINY

BEYOND_RANGE = "outside the source model's range"


def decimals(path: Path, scale: float) -> Path:
    rng = np.random.default_rng(0)
    pd.DataFrame({"x": rng.normal(size=60) * scale, "income": rng.gamma(2.0, 10.0, 60) * scale}).to_csv(path, index=False)
    return path


@pytest.fixture
def source_and_target(tmp_path, ganxfer) -> tuple[str, Path]:
    """A tiny pretrained checkpoint, and a target whose numbers (x and income) go far beyond the source's."""
    pretrained = ganxfer("pretrain", "data=csv", f"data.path={decimals(tmp_path / 'source.csv', 1.0)}", *TINY)
    return f"{pretrained}/checkpoints/last.ckpt", decimals(tmp_path / "target.csv", 10.0)


def finetune(ganxfer_outcome, folder: Path, ckpt: str, target: Path, *settings: str, flags: tuple = ()):
    result = ganxfer_outcome(folder, "finetune", *flags, f"ckpt={ckpt}", "data=csv", f"data.path={target}", *TINY,
                             *settings)
    assert result.returncode == 0, result.stderr
    return result


def test_a_target_beyond_the_source_range_is_warned_of_unless_refitted(tmp_path, source_and_target, ganxfer_outcome):
    ckpt, target = source_and_target
    kept = finetune(ganxfer_outcome, tmp_path, ckpt, target, "hydra.run.dir=kept")
    assert "data.refit=true fits the target's range" in kept.stdout
    # Both columns reach past the source's range: one warning names them both.
    assert kept.stdout.count(BEYOND_RANGE) == 1, kept.stdout
    warning = next(line for line in (tmp_path / "kept" / "finetune.log").read_text().splitlines() if BEYOND_RANGE in line)
    assert "2 column(s)" in warning and "'x':" in warning and "'income':" in warning, warning
    refitted = finetune(ganxfer_outcome, tmp_path, ckpt, target, "data.refit=true", "hydra.run.dir=refitted")
    assert BEYOND_RANGE not in refitted.stdout + refitted.stderr
    assert BEYOND_RANGE not in (tmp_path / "refitted" / "finetune.log").read_text()


def test_a_widened_range_is_warned_of_with_the_columns_new_ranges(tmp_path, source_and_target, ganxfer_outcome):
    ckpt, target = source_and_target
    widened = finetune(ganxfer_outcome, tmp_path, ckpt, target, "data.range=widen", "hydra.run.dir=widened")
    assert widened.stdout.count(BEYOND_RANGE) == 1, widened.stdout
    warning = next(line for line in (tmp_path / "widened" / "finetune.log").read_text().splitlines()
                   if BEYOND_RANGE in line)
    assert "2 column(s)" in warning and "which is widened to cover them" in warning, warning
    assert "which its samples keep to" not in warning
    high = pd.read_csv(target)["income"].max()
    assert "'income': [" in warning and "-> [" in warning and f"{high:g}]" in warning, warning


def test_a_sweep_shows_each_warning_once_and_logs_it_in_every_job(tmp_path, source_and_target, ganxfer_outcome):
    ckpt, target = source_and_target
    sweep = finetune(ganxfer_outcome, tmp_path, ckpt, target, "seed=0,1,2", "hydra.sweep.dir=sweep", flags=("-m",))
    assert sweep.stdout.count(BEYOND_RANGE) == 1, sweep.stdout
    logs = [(tmp_path / "sweep" / job / "finetune.log").read_text() for job in ("0", "1", "2")]
    assert all(log.count(BEYOND_RANGE) == 1 for log in logs)
    # The next command shows it again.
    again = finetune(ganxfer_outcome, tmp_path, ckpt, target, "hydra.run.dir=again")
    assert again.stdout.count(BEYOND_RANGE) == 1
