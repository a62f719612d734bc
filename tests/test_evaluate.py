"""`ganxfer evaluate` through the CLI, in this process: several checkpoints, a subset of metrics,
bad metric names, the one space every checkpoint is measured in; and the metrics benchmark at toy size."""

import json
import runpy
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from conftest import TINY, mixed_table, settings_of
from ganxfer import checkpoint, cli
from ganxfer.data import Schema, load_table
from ganxfer.stages import evaluate as evaluate_stage
from ganxfer.figures import correlations_plot, histogram_bins, marginals_plot
from ganxfer.metrics import frechet_distance

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
    assert records[0]["space"] == records[1]["space"] == "pixels: 0-16 mapped to [-1, 1] (64 columns)"
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


def shops(seed: int, price_scale: float = 1.0, names=("north", "south", "web"), rows=200) -> pd.DataFrame:
    """Two numbers and a category, without gaps (the space's gaps are tested in test_metrics)."""
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"price": np.round(rng.gamma(2.0, 10.0, rows) * price_scale, 2),
                         "visits": rng.integers(0, 40, rows), "shop": rng.choice(names, rows)})


@pytest.fixture
def two_scalings(ganxfer, tmp_path):
    """Two checkpoints of one target table with different schemas: one fine-tuned from a source whose
    prices are a hundred times smaller (it keeps the source's scaling, and its shop 'web'), one
    pretrained on the target itself. Returns their paths and the target's data config."""
    source, target = tmp_path / "source.csv", tmp_path / "target.csv"
    shops(0).to_csv(source, index=False)
    shops(1, price_scale=100.0, names=("north", "south", "east")).to_csv(target, index=False)
    pretrained = ganxfer("pretrain", "data=csv", f"data.path={source}", *TINY) / "checkpoints" / "last.ckpt"
    runs = (ganxfer("finetune", "data=csv", f"data.path={target}", f"ckpt={pretrained}", *TINY),
            ganxfer("pretrain", "data=csv", f"data.path={target}", *TINY))
    return [run / "checkpoints" / "last.ckpt" for run in runs]


def numbers_of(record: dict) -> dict:
    return {name: value for name, value in record.items() if isinstance(value, (int, float))}


def test_the_order_of_checkpoints_changes_no_number(ganxfer, two_scalings):
    finetuned, pretrained = two_scalings
    prices = [checkpoint.load(path)["schema"]["columns"][0] for path in two_scalings]
    assert prices[1]["high"] > 10 * prices[0]["high"]  # each checkpoint scales the prices its own way

    def evaluated(first, second) -> list[dict]:
        out = ganxfer("evaluate", f"ckpt=[{first},{second}]", "metrics=[fd,kid,mmd2_rbf,prdc,c2st,memorisation]")
        return json.loads((out / "metrics.json").read_text())

    forward, backward = evaluated(finetuned, pretrained), evaluated(pretrained, finetuned)
    for record, same in zip(forward, backward[::-1]):
        assert record["checkpoint"] == same["checkpoint"]
        assert record["space"] == same["space"] == "real rows: 2 numbers standardised, 1 category one-hot (5 columns)"
        assert {"fd", "kid", "mmd2_rbf", "precision", "c2st_auc", "dcr_close_share"} <= set(record)
        assert numbers_of(record) == pytest.approx(numbers_of(same), rel=1e-9, abs=1e-12)


def test_distances_are_measured_in_the_real_rows_standardised_space(ganxfer, two_scalings, capsys):
    finetuned = two_scalings[0]
    out = ganxfer("evaluate", f"ckpt={finetuned}", "metrics=[fd]", "trainer.device=cpu")  # sampled as below
    record = json.loads((out / "metrics.json").read_text())
    assert "distances in one space for every checkpoint: real rows: 2 numbers" in capsys.readouterr().out
    state = checkpoint.load(finetuned)
    schema = Schema.from_dict(state["schema"])
    table = load_table(settings_of("data", state["config"]["data"]))
    real = table.loc[state["split"]["holdout_rows"].numpy()]
    fake = evaluate_stage.synthetic_rows(state, schema, len(real), 0, "cpu")  # seed=0, evaluate's default

    def standardised_by_hand(rows: pd.DataFrame) -> np.ndarray:
        numbers = [(rows[name].astype(float) - real[name].astype(float).mean()) / real[name].astype(float).std(ddof=0)
                   for name in ("price", "visits")]
        return np.column_stack([*numbers, *[(rows["shop"] == shop).astype(float) for shop in real["shop"].unique()]])

    assert record["fd"] == pytest.approx(frechet_distance(standardised_by_hand(real), standardised_by_hand(fake)),
                                         rel=1e-6)
    assert record["fd"] != pytest.approx(frechet_distance(schema.transform(real), schema.transform(fake)), rel=0.01)


def test_images_keep_the_pixel_space_their_models_share():
    """Every model of the digits scales pixels by the data's range: the comparison space is that one."""
    pixels = pd.DataFrame(np.random.default_rng(0).integers(0, 17, (30, 64)), columns=[f"p{i}" for i in range(64)])
    space = evaluate_stage.comparison_space(settings_of("data", {"name": "digits"}), pixels, pixels)
    np.testing.assert_allclose(space(pixels), Schema.fit_image(pixels, [8, 8], [0, 16]).transform(pixels), atol=1e-6)


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
