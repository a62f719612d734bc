import numpy as np
import pandas as pd
import pytest
from omegaconf import OmegaConf

from ganxfer.data import Schema, load_table, split_table
from ganxfer.errors import UserError


def data_cfg(**changes):
    base = dict(name="csv", path=None, label=None, classes=None, shots=None, shape=None,
                holdout=0.2, split_seed=0)
    return OmegaConf.create({**base, **changes})


@pytest.fixture
def mixed_table():
    rng = np.random.default_rng(0)
    return pd.DataFrame({
        "height": rng.normal(170, 10, 200),
        "age": rng.integers(18, 90, 200),
        "flag": np.zeros(200, dtype=int),  # constant
        "group": np.repeat(["a", "b"], 100),
    })


def test_schema_inverse_restores_names_order_integers_and_range(mixed_table):
    schema = Schema.fit(mixed_table, exclude=["group"])
    scaled = schema.transform(mixed_table)
    assert scaled.dtype == np.float32 and scaled.min() >= -1 and scaled.max() <= 1
    back = schema.inverse(scaled)
    assert list(back.columns) == ["height", "age", "flag"]
    np.testing.assert_allclose(back["height"], mixed_table["height"], rtol=1e-5)
    assert back["age"].dtype == np.int64 and (back["age"] == mixed_table["age"]).all()
    assert (back["flag"] == 0).all()


def test_generator_output_outside_the_range_is_clipped_to_observed_values(mixed_table):
    schema = Schema.fit(mixed_table, exclude=["group"])
    rows = schema.inverse(np.random.default_rng(1).uniform(-3, 3, (500, 3)).astype(np.float32))
    assert rows["age"].between(mixed_table["age"].min(), mixed_table["age"].max()).all()
    assert rows["height"].between(mixed_table["height"].min(), mixed_table["height"].max()).all()


def test_schema_survives_plain_data_round_trip(mixed_table):
    schema = Schema.fit(mixed_table, exclude=["group"])
    again = Schema.from_dict(schema.to_dict())
    np.testing.assert_array_equal(again.transform(mixed_table), schema.transform(mixed_table))


def test_text_in_a_numeric_column_names_the_column():
    table = pd.DataFrame({"x": [1.0, 2.0, 3.0], "y": ["1", "oops", "3"]})
    with pytest.raises(UserError, match="'y'"):
        Schema.fit(table)


def test_split_is_seeded_disjoint_and_stratified(mixed_table):
    cfg = data_cfg(label="group", shots=20)
    first, second = split_table(mixed_table, cfg), split_table(mixed_table, cfg)
    assert first.train.index.equals(second.train.index)
    assert not set(first.train.index) & set(first.holdout.index)
    assert len(first.train) == 20 and len(first.holdout) == 40
    assert first.train["group"].value_counts().to_dict() == {"a": 10, "b": 10}
    other = split_table(mixed_table, data_cfg(label="group", shots=20, split_seed=1))
    assert not other.train.index.equals(first.train.index)


def test_more_shots_than_rows_is_an_error(mixed_table):
    with pytest.raises(UserError, match="shots"):
        split_table(mixed_table, data_cfg(shots=1000))


def test_digits_domains_are_disjoint_classes():
    source = load_table(data_cfg(name="digits", label="label", classes=[0, 1, 2, 3, 4]))
    target = load_table(data_cfg(name="digits", label="label", classes=[5, 6, 7, 8, 9]))
    assert set(source["label"]) == {0, 1, 2, 3, 4} and set(target["label"]) == {5, 6, 7, 8, 9}
    assert len(source) + len(target) == 1797
    assert source.shape[1] == 65 and source.drop(columns="label").to_numpy().max() == 16
