"""Loading, splitting and encoding data, and whole runs on CSV files of mixed types, with gaps,
and of images: what comes back has the input's columns, order, dtypes, ranges and gap rates."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from conftest import TINY, load_last, settings_of
from ganxfer.data import Schema, load_table, prepare, split_table
from ganxfer.data import csv_file, frames
from ganxfer.data import split as splits
from ganxfer.errors import UserError

BENCHMARK = Path(__file__).parents[1] / "benchmarks" / "data_scale.py"
TINY_DCGAN = ["trainer.steps=6", "trainer.batch_size=16", "trainer.log_every=2", "trainer.ckpt_every=3",
              "model=dcgan", "model.z_dim=8", "model.g_channels=4", "model.d_channels=4", "trainer.device=cpu"]


def data_cfg(**changes):
    base = dict(name="csv", path=None, label=None, classes=None, shots=None, shape=None, pixel_range=None,
                holdout=0.2, split_seed=0, drop=[], categorical=[], continuous=[], max_categories=10,
                scaling="minmax", missing="model", refit=False)
    return settings_of("data", {**base, **changes})


def mixed_types(seed: int = 0, rows: int = 200) -> pd.DataFrame:
    """Text categories, integers, decimals, booleans and small whole numbers with gaps, a constant."""
    rng = np.random.default_rng(seed)
    member = pd.Series(rng.random(rows) < 0.4, dtype=object)
    kids = rng.integers(0, 4, rows).astype(float)
    kids[rng.random(rows) < 0.1] = np.nan
    return pd.DataFrame({
        "city": rng.choice(["Oslo", "Lima", "Pune"], rows, p=[0.5, 0.3, 0.2]),
        "age": rng.integers(18, 90, rows),
        "income": np.where(rng.random(rows) < 0.3, np.nan, rng.lognormal(10, 0.5, rows).round(2)),
        "member": member.mask(rng.random(rows) < 0.2),
        "kids": kids,
        "country": "NO",
        "code": rng.integers(1, 4, rows),
    })


@pytest.fixture
def numeric_table():
    rng = np.random.default_rng(0)
    return pd.DataFrame({
        "height": rng.normal(170, 10, 200),
        "age": rng.integers(18, 90, 200),
        "flag": np.zeros(200, dtype=int),  # constant
        "group": np.repeat(["a", "b"], 100),
    })


def test_schema_inverse_restores_names_order_integers_and_range(numeric_table):
    schema = Schema.fit(numeric_table, exclude=["group"])
    scaled = schema.transform(numeric_table)
    assert scaled.dtype == np.float32 and scaled.shape[1] == 2  # the constant takes no generator output
    assert scaled.min() >= -1 and scaled.max() <= 1
    back = schema.inverse(scaled)
    assert list(back.columns) == ["height", "age", "flag"]
    np.testing.assert_allclose(back["height"], numeric_table["height"], rtol=1e-5)
    assert back["age"].dtype == np.int64 and (back["age"] == numeric_table["age"]).all()
    assert back["flag"].dtype == np.int64 and (back["flag"] == 0).all()


def test_generator_output_outside_the_range_is_clipped_to_observed_values(numeric_table):
    schema = Schema.fit(numeric_table, exclude=["group"])
    rows = schema.inverse(np.random.default_rng(1).uniform(-3, 3, (500, schema.width)).astype(np.float32))
    assert rows["age"].between(numeric_table["age"].min(), numeric_table["age"].max()).all()
    assert rows["height"].between(numeric_table["height"].min(), numeric_table["height"].max()).all()


def test_split_is_seeded_disjoint_and_stratified(numeric_table):
    cfg = data_cfg(label="group", shots=20)
    first, second = split_table(numeric_table, cfg), split_table(numeric_table, cfg)
    assert first.train.index.equals(second.train.index)
    assert not set(first.train.index) & set(first.holdout.index)
    assert len(first.train) == 20 and len(first.holdout) == 40
    assert first.train["group"].value_counts().to_dict() == {"a": 10, "b": 10}
    other = split_table(numeric_table, data_cfg(label="group", shots=20, split_seed=1))
    assert not other.train.index.equals(first.train.index)


@pytest.mark.parametrize("rows, seed, holdout, shots", [(10, 0, 0.2, None), (1797, 3, 0.25, 100), (7, 1, 0.5, 2)])
def test_unstratified_split_picks_the_rows_scikit_learn_picks(rows, seed, holdout, shots):
    """Checkpoints record their rows: the split made without scikit-learn must be its split."""
    from sklearn.model_selection import train_test_split

    positions = np.arange(rows)
    train, held = splits._split(positions, seed, None, test_size=holdout)
    expected_train, expected_held = train_test_split(positions, test_size=holdout, random_state=seed)
    assert np.array_equal(train, expected_train) and np.array_equal(held, expected_held)
    if shots is not None:
        kept, _ = splits._split(train, seed, None, train_size=shots)
        assert np.array_equal(kept, train_test_split(train, train_size=shots, random_state=seed)[0])


def test_evaluation_rows_are_the_same_draw_each_time_and_every_row_under_the_cap(numeric_table):
    drawn = frames.at_most(numeric_table, 50, seed=0)
    assert drawn.index.equals(frames.at_most(numeric_table, 50, seed=0).index)
    assert len(drawn) == 50 and drawn.index.is_unique and drawn.index.is_monotonic_increasing
    pd.testing.assert_frame_equal(drawn, numeric_table.loc[drawn.index])
    assert not drawn.index.equals(frames.at_most(numeric_table, 50, seed=1).index)
    assert frames.at_most(numeric_table, 200, seed=0) is numeric_table


def test_leaving_out_a_column_shares_the_others_memory(numeric_table):
    kept = frames.without(numeric_table, ["group"])
    assert list(kept.columns) == ["height", "age", "flag"]
    assert np.shares_memory(kept["height"].to_numpy(), numeric_table["height"].to_numpy())
    assert frames.without(numeric_table, ["absent"]) is numeric_table


def test_prepared_data_keep_the_training_rows_positions_and_the_held_out_rows(tmp_path, numeric_table):
    path = tmp_path / "rows.csv"
    numeric_table.to_csv(path, index=False)
    cfg = data_cfg(path=str(path))
    prepared, split = prepare(cfg), split_table(load_table(cfg), cfg)
    assert np.array_equal(prepared.positions, split.train.index.to_numpy())
    pd.testing.assert_frame_equal(prepared.holdout, split.holdout)
    np.testing.assert_array_equal(prepared.rows.tensor.numpy(), prepared.schema.transform(split.train))


def test_digits_domains_are_disjoint_classes():
    source = load_table(data_cfg(name="digits", label="label", classes=[0, 1, 2, 3, 4]))
    target = load_table(data_cfg(name="digits", label="label", classes=[5, 6, 7, 8, 9]))
    assert set(source["label"]) == {0, 1, 2, 3, 4} and set(target["label"]) == {5, 6, 7, 8, 9}
    assert len(source) + len(target) == 1797
    assert source.shape[1] == 65 and source.drop(columns="label").to_numpy().max() == 16


def test_drop_and_missing_policies_choose_rows_and_columns(tmp_path):
    path = tmp_path / "mixed.csv"
    mixed_types().to_csv(path, index=False)
    kept = load_table(data_cfg(path=str(path), drop=["country"], missing="drop"))
    assert "country" not in kept.columns and not kept.isna().any().any()
    assert len(kept) == mixed_types().drop(columns="country").dropna().shape[0]
    imputed = prepare(data_cfg(path=str(path), missing="impute"))
    assert imputed.schema.width == prepare(data_cfg(path=str(path), missing="drop")).schema.width
    assert not imputed.schema.inverse(imputed.rows.tensor.numpy()).isna().any().any()


def gappy_csv(path: Path) -> pd.DataFrame:
    """Every kind of column with gaps, and one of numbers too large for float32's whole numbers."""
    table = mixed_types(rows=50)
    table["stamp"] = 1.7e9 + np.arange(50) * 0.25
    table.to_csv(path, index=False)
    return table


def test_csv_numbers_are_float32_in_chunks_as_in_one_piece(tmp_path, monkeypatch):
    original = gappy_csv(tmp_path / "data.csv")
    whole = csv_file._parse(tmp_path / "data.csv")
    monkeypatch.setattr(csv_file, "CHUNK_ROWS", 7)
    pd.testing.assert_frame_equal(csv_file._parse(tmp_path / "data.csv"), whole)
    assert whole["income"].dtype == np.float32 and whole["kids"].dtype == np.float32
    assert whole["stamp"].dtype == np.float64 and (whole["stamp"] == original["stamp"]).all()
    assert whole["member"].isna().sum() == original["member"].isna().sum() > 0


@pytest.mark.parametrize("content, changes, phrase", [
    ("x,y\n", {}, "no data rows"),
    ("x,y\n1,2\n3\n5,6\n", {}, "fewer than the header's 2 fields (first: line 3)"),
    ("x,y\n1,2,3\n4,5\n6,7\n", {}, "well-formed CSV"),
    ("x,y\n1,\n2,\n3,\n", {}, "'y' have no values"),
    ("x,y\n1,2\n3,4\n", {"label": "kind"}, "data.label='kind' is not a column"),
    ("x,kind\n1,a\n3,b\n", {"label": "kind", "classes": ["a", "c", "d"]},
     "names ['c', 'd'], which column 'kind' never holds"),
    ("x,y\n1,2\n3,4\n5,6\n", {"shots": 5}, "data.shots=5 but only 2 training rows"),
    ("x,y\n1,2\n3,4\n5,6\n", {"shape": [1, 3, 3]}, "needs 9 pixel columns, but the data have 2"),
    ("x,y\n1,2\n3,4\n5,6\n", {"drop": ["z"]}, "data.drop names 'z'"),
], ids=["header-only", "short-row", "long-first-row", "all-missing", "no-label", "absent-classes", "shots",
        "shape", "drop-unknown"])
def test_bad_input_is_one_clear_user_error(tmp_path, content, changes, phrase):
    path = tmp_path / "data.csv"
    path.write_text(content)
    with pytest.raises(UserError) as error:
        prepare(data_cfg(path=str(path), **changes))
    assert phrase in str(error.value)


@pytest.mark.parametrize("bad", ["abc", "inf"])
def test_a_bad_value_in_a_held_out_row_stops_the_run(tmp_path, bad):
    path = tmp_path / "data.csv"
    cfg = data_cfg(path=str(path))
    held_out = split_table(pd.DataFrame({"x": range(10)}), cfg).holdout.index[0]
    values = [str(i * 1.5) for i in range(10)]
    values[held_out] = bad
    path.write_text("x,y\n" + "".join(f"{i},{value}\n" for i, value in enumerate(values)))
    with pytest.raises(UserError, match="'y' holds (text|infinite)"):
        prepare(cfg)


def test_mixed_csv_pretrain_finetune_sample_keeps_columns_dtypes_and_values(ganxfer, tmp_path):
    source, target = tmp_path / "source.csv", tmp_path / "target.csv"
    mixed_types(seed=0).to_csv(source, index=False)
    mixed_types(seed=1, rows=60).to_csv(target, index=False)
    pretrained = ganxfer("pretrain", "data=csv", f"data.path={source}", *TINY)
    finetuned = ganxfer("finetune", "data=csv", f"data.path={target}", f"ckpt={pretrained}/checkpoints/last.ckpt",
                        "data.refit=true", *TINY)
    assert load_last(finetuned)["schema"]["columns"][0]["categories"] == ["Oslo", "Lima", "Pune"]
    ganxfer("sample", f"ckpt={finetuned}/checkpoints/last.ckpt", "n=500", f"out={tmp_path / 'fake.csv'}")
    real, fake = pd.read_csv(target), pd.read_csv(tmp_path / "fake.csv")
    assert list(fake.columns) == list(real.columns)
    for column in ("city", "age", "country", "code"):  # those without gaps read back with the input's dtype
        assert fake[column].dtype == real[column].dtype, column
    assert fake["age"].between(real["age"].min(), real["age"].max()).all()
    assert (fake["country"] == "NO").all()
    for column in ("city", "member", "kids", "code"):
        assert set(fake[column].dropna()) <= set(mixed_types(seed=0)[column].dropna()), column


def test_generated_gaps_follow_the_observed_missing_rates(ganxfer, tmp_path):
    path = tmp_path / "gaps.csv"
    table = mixed_types(rows=600).drop(columns=["country", "code"])
    table.to_csv(path, index=False)
    run = ganxfer("pretrain", "data=csv", f"data.path={path}", "trainer.steps=800", "trainer.log_every=800",
                  "trainer.ckpt_every=800", "model.z_dim=16", "model.g_hidden=64", "model.d_hidden=64",
                  "optimizer.lr_g=1e-3", "optimizer.lr_d=1e-3", "trainer.device=cpu")
    ganxfer("sample", f"ckpt={run}/checkpoints/last.ckpt", "n=4000", f"out={tmp_path / 'fake.csv'}")
    real_rates = table.loc[load_last(run)["split"]["train_rows"].numpy()].isna().mean()
    fake_rates = pd.read_csv(tmp_path / "fake.csv").isna().mean()
    assert real_rates["income"] > 0.2 and real_rates["member"] > 0.1 and real_rates["kids"] > 0.05
    assert (fake_rates - real_rates).abs().max() < 0.05, (fake_rates - real_rates).to_dict()


@pytest.mark.parametrize("kind", ["integers 0-255", "decimals 0-1"])
def test_image_csv_with_dcgan_restores_the_pixel_range(ganxfer, tmp_path, kind):
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, (40, 64)) if kind.startswith("integers") else rng.uniform(0, 1, (40, 64)).round(3)
    table = pd.DataFrame(pixels, columns=[f"pixel{i}" for i in range(64)])
    table.insert(0, "label", np.arange(40) % 2)
    table.to_csv(tmp_path / "images.csv", index=False)
    run = ganxfer("pretrain", "data=image_csv", f"data.path={tmp_path / 'images.csv'}", "data.shape=[1,8,8]",
                  *TINY_DCGAN)
    ganxfer("sample", f"ckpt={run}/checkpoints/last.ckpt", "n=64", f"out={tmp_path / 'fake.csv'}")
    fake = pd.read_csv(tmp_path / "fake.csv")
    assert list(fake.columns) == list(table.columns[1:]) and (fake.dtypes == table.dtypes.iloc[1]).all()
    high = 255 if kind.startswith("integers") else 1
    assert fake.to_numpy().min() >= 0 and fake.to_numpy().max() <= high
    assert fake.to_numpy().max() > high / 2  # not squeezed into a corner of the range
    assert (run / "samples.png").exists()


def test_the_scale_benchmark_runs_at_a_tiny_size(tmp_path):
    result = subprocess.run([sys.executable, str(BENCHMARK), "--rows", "3000", "--columns", "6", "--steps", "20",
                             "--sample-rows", "5000"], capture_output=True, text=True, timeout=300, cwd=tmp_path,
                            env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert result.returncode == 0, result.stderr
    for figure in ("load", "steps/s", "rows/s", "peak RSS"):
        assert figure in result.stdout
