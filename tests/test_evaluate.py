"""`ganxfer evaluate` through the CLI, in this process: several checkpoints, a subset of metrics,
bad metric names; and the metrics benchmark at toy size."""

import json
import runpy
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from conftest import TINY, mixed_table
from ganxfer import cli
from ganxfer.stages import evaluate as evaluate_stage
from ganxfer.figures import correlations_plot, histogram_bins, marginals_plot

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def pretrained(ganxfer):
    """A checkpoint pretrained on digits 0-4."""
    return ganxfer("pretrain", *TINY) / "checkpoints" / "last.ckpt"


@pytest.fixture
def checkpoints(ganxfer, pretrained):
    """The pretrained checkpoint and one fine-tuned from it on digits 5-9."""
    return pretrained, ganxfer("finetune", f"ckpt={pretrained}", *TINY) / "checkpoints" / "last.ckpt"


def test_several_checkpoints_are_compared_on_the_same_real_rows(ganxfer, checkpoints, monkeypatch):
    returned = []
    run = evaluate_stage.run
    monkeypatch.setattr(evaluate_stage, "run", lambda cfg: returned.append(run(cfg)) or returned[-1])
    out = ganxfer("evaluate", f"ckpt=[{checkpoints[0]},{checkpoints[1]}]")

    records = json.loads((out / "metrics.json").read_text())
    assert [record["checkpoint"] for record in records] == [str(path) for path in checkpoints]
    assert [record["stage"] for record in records] == ["pretrain", "finetune"]
    assert records[0]["real_rows"] == records[1]["real_rows"] == 181  # 20% of digits 0-4, the first run's
    for record in records:
        for name in ("fd", "fd_features", "kid", "mmd2_rbf", "precision", "coverage", "c2st_accuracy",
                     "c2st_auc", "quality_score", "dcr_close_share", "dcr_exact_copies"):
            assert record[name] >= 0, name
        assert "does not produce the label column" in record["skipped"]["utility"]
        assert "tstr_accuracy" not in record
    assert returned == [records[0]["fd"]]  # the number a sweeper minimises
    for number in (1, 2):
        for plot in ("marginals", "correlations", "pca", "samples"):
            assert (out / f"ckpt{number}_{plot}.png").stat().st_size > 0
    assert len(list(out.glob("feature_net_*.npz"))) == 1  # trained once, reused for the second checkpoint


def test_metrics_picks_a_subset_and_fd_is_always_there(ganxfer, pretrained):
    out = ganxfer("evaluate", f"ckpt={pretrained}", "metrics=[kid,prdc]")
    record = json.loads((out / "metrics.json").read_text())
    assert {"fd", "kid", "kid_std", "precision", "recall", "density", "coverage"} <= set(record)
    assert not {"mmd2_rbf", "c2st_accuracy", "quality_score", "fd_features"} & set(record)
    assert (out / "marginals.png").exists() and (out / "samples.png").exists()


def test_plots_take_text_booleans_and_gaps(tmp_path):
    real, fake = mixed_table(0), mixed_table(1)
    marginals_plot(real, fake, tmp_path / "marginals.png")
    correlations_plot(real, fake, tmp_path / "correlations.png")
    assert (tmp_path / "marginals.png").stat().st_size > 0 and (tmp_path / "correlations.png").stat().st_size > 0


def test_marginals_bin_a_wide_integer_column_and_keep_a_bar_per_value_for_few_values(tmp_path):
    rng = np.random.default_rng(0)
    # 8 held-out rows: at most 8 values of a column that takes hundreds in the synthetic rows.
    real = pd.DataFrame({"income": rng.integers(278, 1681, 8), "rating": rng.integers(1, 6, 8)})
    fake = pd.DataFrame({"income": rng.integers(278, 1681, 300), "rating": rng.integers(1, 6, 300)})
    income, rating = marginals_plot(real, fake, tmp_path / "marginals.png").axes[:2]
    assert len(income.patches) == 2  # two outlines, real and synthetic, over the same bins
    assert len(rating.patches) == 2 * 5  # a bar per value, real and synthetic side by side
    assert [tick.get_text() for tick in rating.get_xticklabels()] == ["1", "2", "3", "4", "5"]

    edges = histogram_bins(real["income"], fake["income"])
    widths = np.diff(edges)
    values = pd.concat([real["income"], fake["income"]])
    assert len(widths) <= 30 and edges[0] < values.min() and edges[-1] > values.max()
    assert np.all(widths == widths[0]) and widths[0] == round(widths[0])  # a whole number of values per bin
    assert np.all(edges % 1 == 0.5)  # edges between whole values, none on one
    assert histogram_bins(pd.Series(["a", "b"]), pd.Series(["b", "c"])) is None  # text: always bars


def test_an_unknown_metric_is_refused_with_the_valid_names(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "argv", ["ganxfer"])
    with pytest.raises(SystemExit) as exit_:
        cli.main(["evaluate", "ckpt=whatever.ckpt", "metrics=[fd,fidelity]", f"hydra.run.dir={tmp_path}"])
    assert exit_.value.code == 2
    message = capsys.readouterr().err
    assert "fidelity" in message and "prdc" in message and "memorisation" in message


def test_the_benchmark_runs_at_toy_size(monkeypatch, capsys):
    monkeypatch.setattr(sys, "argv", ["metrics.py", "--rows", "120", "--columns", "5"])
    runpy.run_path(str(ROOT / "benchmarks" / "metrics.py"), run_name="__main__")
    printed = capsys.readouterr().out
    assert "total" in printed and "prdc" in printed and "utility" in printed
