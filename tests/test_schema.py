"""The Schema on real and mixed-type tables: kinds inferred, every transform inverted exactly,
samples that only ever hold values the training data could have held, and plain data only."""

import io
import logging

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.datasets import load_breast_cancer, load_wine
from sklearn.preprocessing import QuantileTransformer

from ganxfer.data import FitOptions, Schema
from ganxfer.data.prepare import check_same_columns, schema_for_target
from ganxfer.data.scalers import Quantile
from ganxfer.errors import UserError

from test_data import data_cfg, mixed_types


def real_tables():
    return {"wine": load_wine(as_frame=True).frame, "breast_cancer": load_breast_cancer(as_frame=True).frame}


def random_generator_output(schema: Schema, rows: int = 2000, seed: int = 0) -> np.ndarray:
    """What an untrained generator might emit: anything in [-1, 1], wider than the data."""
    return np.random.default_rng(seed).uniform(-1.5, 1.5, (rows, schema.width)).astype(np.float32)


def assert_plain(value, where="schema"):
    """Only what torch.load(weights_only=True) and a person reading the checkpoint expect."""
    if isinstance(value, dict):
        for key, item in value.items():
            assert isinstance(key, str), where
            assert_plain(item, f"{where}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            assert_plain(item, f"{where}[{index}]")
    else:
        assert value is None or type(value) in (str, int, float, bool), f"{where}: {type(value)}"


@pytest.mark.parametrize("name", ["wine", "breast_cancer"])
@pytest.mark.parametrize("scaling", ["minmax", "standard", "quantile"])
def test_real_data_round_trip_keeps_columns_dtypes_and_values(name, scaling):
    table = real_tables()[name]
    schema = Schema.fit(table, options=FitOptions(scaling=scaling))
    assert schema.columns[-1].kind == "categorical"  # the class column: whole numbers, few values
    back = schema.inverse(schema.transform(table))
    assert list(back.columns) == list(table.columns)
    assert back.dtypes.equals(table.dtypes)
    assert back["target"].equals(table["target"])
    numbers = table.columns[:-1]
    if scaling == "standard":  # values beyond 4 standard deviations are clipped by design
        inside = ((table[numbers] - table[numbers].mean()).abs() < 3.9 * table[numbers].std(ddof=0)).all(axis=1)
        back, table = back[inside], table[inside]
    np.testing.assert_allclose(back[numbers], table[numbers], rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("name", ["wine", "breast_cancer"])
def test_samples_stay_in_range_with_training_categories(name):
    table = real_tables()[name]
    schema = Schema.fit(table, options=FitOptions(scaling="quantile"))
    fake = schema.inverse(random_generator_output(schema))
    assert list(fake.columns) == list(table.columns) and fake.dtypes.equals(table.dtypes)
    assert set(fake["target"]) <= set(table["target"])
    low, high = table.min(), table.max()
    assert ((fake >= low) & (fake <= high)).all().all()


def test_mixed_types_are_inferred_and_restored():
    table = mixed_types()
    schema = Schema.fit(table)
    kinds = {column.name: column.kind for column in schema.columns}
    assert kinds == {"city": "categorical", "age": "integer", "income": "continuous", "member": "categorical",
                     "kids": "categorical", "country": "constant", "code": "categorical"}
    fake = schema.inverse(random_generator_output(schema))
    assert list(fake.columns) == list(table.columns)
    assert fake["age"].dtype == np.int64 and fake["age"].between(table["age"].min(), table["age"].max()).all()
    assert fake["member"].dtype == "boolean"  # booleans with gaps
    assert fake["kids"].dtype == "Int64"  # whole numbers that pandas read as floats because of gaps
    assert fake["code"].dtype == np.int64 and set(fake["code"]) <= set(table["code"])
    assert set(fake["city"]) <= set(table["city"]) and (fake["country"] == "NO").all()
    for column in ("city", "member", "kids"):
        assert set(fake[column].dropna()) <= set(table[column].dropna())


def test_booleans_without_gaps_stay_bool():
    table = pd.DataFrame({"flag": [True, False, True, True], "x": [0.5, 1.5, 2.5, 3.5]})
    schema = Schema.fit(table)
    assert schema.inverse(schema.transform(table))["flag"].dtype == bool


def test_overrides_and_the_category_threshold():
    table = mixed_types()
    options = FitOptions(categorical=["age"], continuous=["code"], max_categories=3)
    kinds = {column.name: column.kind for column in Schema.fit(table, options=options).columns}
    assert (kinds["age"], kinds["code"], kinds["kids"]) == ("categorical", "integer", "integer")
    with pytest.raises(UserError, match="'nope'"):
        Schema.fit(table, options=FitOptions(categorical=["nope"]))
    with pytest.raises(UserError, match="holds text"):
        Schema.fit(table, options=FitOptions(continuous=["city"]))


def test_the_schema_is_plain_data_that_torch_loads_safely():
    schema = Schema.fit(mixed_types(), options=FitOptions(scaling="quantile"))
    state = schema.to_dict()
    assert_plain(state)
    buffer = io.BytesIO()
    torch.save(state, buffer)
    buffer.seek(0)
    again = Schema.from_dict(torch.load(buffer, weights_only=True))
    table = mixed_types()
    np.testing.assert_array_equal(again.transform(table), schema.transform(table))


def test_quantile_scaling_is_scikit_learns_quantile_transform():
    values = np.random.default_rng(0).gamma(2.0, 3.0, 5000)
    scaler = Quantile.fit(values)
    sklearn = QuantileTransformer(n_quantiles=1000, output_distribution="normal", random_state=0)
    expected = sklearn.fit_transform(values[:, None])
    np.testing.assert_allclose(scaler.transform(values) * Quantile.EDGE, expected, atol=1e-6)
    # Ranks are clipped at 1e-7 from either end, which blurs the extremes a little.
    np.testing.assert_allclose(scaler.inverse(scaler.transform(values)), values, rtol=1e-3)


def test_mode_specific_normalisation_finds_both_modes_and_inverts():
    rng = np.random.default_rng(0)
    values = np.concatenate([rng.normal(-10, 1, 500), rng.normal(10, 1, 500)])
    schema = Schema.fit(pd.DataFrame({"x": values}), options=FitOptions(scaling="mode_specific"))
    assert schema.layout == [("tanh", 1), ("softmax", 2)]
    encoded = schema.transform(pd.DataFrame({"x": values}))
    assert (encoded[:500, 1:].argmax(1) != encoded[500:, 1:].argmax(1)[0]).all()  # one mode per bump
    np.testing.assert_allclose(schema.inverse(encoded)["x"], values, rtol=1e-5)


def test_layout_gives_one_block_per_encoded_part():
    schema = Schema.fit(mixed_types())
    # city, age, income and its missing indicator, member (+ missing), kids (+ missing), code; the constant: none
    assert schema.layout == [("softmax", 3), ("tanh", 1), ("tanh", 1), ("softmax", 2), ("softmax", 3),
                             ("softmax", 5), ("softmax", 3)]
    assert schema.width == sum(width for _, width in schema.layout) == schema.transform(mixed_types()).shape[1]


@pytest.mark.parametrize("policy", ["model", "impute"])
def test_gaps_are_learnt_or_filled(policy):
    table = mixed_types()
    schema = Schema.fit(table, options=FitOptions(missing=policy))
    back = schema.inverse(schema.transform(table))
    if policy == "model":  # the encoding says exactly where the gaps are
        assert back.isna().equals(table.isna())
    else:
        assert not back.isna().any().any()
        np.testing.assert_allclose(back.loc[table["income"].isna(), "income"], table["income"].median(), rtol=1e-6)


def test_all_missing_column_and_text_among_numbers_are_user_errors():
    with pytest.raises(UserError, match="'empty' have no values"):
        Schema.fit(pd.DataFrame({"x": [1.0, 2.0, 3.0], "empty": [np.nan] * 3}))
    with pytest.raises(UserError, match="data.categorical=\\[y\\]"):
        Schema.fit(pd.DataFrame({"y": ["1", "2", "oops", "4", "5"]}))


def test_an_identifier_column_gets_a_warning(caplog):
    table = pd.DataFrame({"id": [f"u{i}" for i in range(40)], "x": np.arange(40) * 0.5})
    with caplog.at_level(logging.WARNING):
        Schema.fit(table)
    assert "probably an identifier" in caplog.text and "data.drop=[id]" in caplog.text


def test_images_share_the_detected_pixel_range():
    rng = np.random.default_rng(0)
    for pixels, low, high in [(rng.integers(0, 256, (50, 12)), 0, 255), (rng.uniform(0, 1, (50, 12)), 0, 1)]:
        table = pd.DataFrame(pixels, columns=[f"p{i}" for i in range(12)]).assign(label=1)
        schema = Schema.fit_image(table, [3, 2, 2], exclude=["label"])
        fake = schema.inverse(random_generator_output(schema))
        assert schema.image_shape == (3, 2, 2) and schema.layout == [("tanh", 1)] * 12
        assert fake.to_numpy().min() == low and fake.to_numpy().max() == high  # clipped at the range
        assert fake.dtypes.equals(table.drop(columns="label").dtypes)
    with pytest.raises(UserError, match="needs 16 pixel columns, but the data have 12"):
        Schema.fit_image(table, [4, 4], exclude=["label"])


def test_finetune_reuses_the_source_schema_or_refits_it():
    source_table, target_table = mixed_types(seed=0), mixed_types(seed=1)
    target_table["income"] *= 2
    source = Schema.fit(source_table)
    kept = schema_for_target(source, target_table, data_cfg())
    refitted = schema_for_target(source, target_table, data_cfg(refit=True))
    assert kept is source
    assert refitted.layout == source.layout  # the networks still fit
    income = refitted.names.index("income")
    assert source.columns[income].high == source_table["income"].max()
    assert refitted.columns[income].high == target_table["income"].max()


def test_finetune_on_other_columns_says_what_differs_and_unseen_categories_are_added():
    with pytest.raises(UserError, match="1 match \\(a\\); missing from the target: b; new in the target: c"):
        check_same_columns(["a", "b"], ["a", "c"])
    source = Schema.fit(mixed_types())
    target = mixed_types(seed=1)
    target.loc[3, "city"] = "Atlantis"
    grown = schema_for_target(source, target, data_cfg())
    assert grown.columns[0].categories == [*source.columns[0].categories, "Atlantis"]
    target = mixed_types(seed=1).astype({"income": object})
    target.loc[3, "income"] = "n/a?"
    with pytest.raises(UserError, match="'income' holds text"):
        schema_for_target(source, target, data_cfg())


def test_a_schema_from_an_older_checkpoint_is_refused_with_a_reason():
    with pytest.raises(UserError, match="older ganxfer"):
        Schema.from_dict({"columns": [{"name": "x", "kind": "integer", "low": 0.0, "high": 1.0}]})


def test_the_quantile_edge_is_the_largest_normal_score_of_its_rank_bound():
    from scipy.special import ndtri

    assert Quantile.EDGE == float(-ndtri(Quantile.RANK_BOUND))
