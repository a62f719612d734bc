"""How number columns are read: whole numbers are categories only when they look like codes,
samples keep each column's observed precision, and columns with few distinct values keep to
them; the printed schema names the key that reads a column otherwise."""

import io

import numpy as np
import pandas as pd
import pytest
from rich.console import Console

from ganxfer.data import FitOptions, Schema
from ganxfer.data.prepare import schema_for_target
from ganxfer.data.summary import describe

from test_data import data_cfg


def untrained_output(schema: Schema, rows: int = 2000, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(-1.2, 1.2, (rows, schema.width)).astype(np.float32)


def survey(rows=400, seed=0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({
        "age": rng.choice([17.5, 22, 27, 32, 37, 42], rows),      # binned ages
        "score": rng.choice([0, 1, 2, 3, 4, 5.5], rows),          # few values, one with a fraction
        "cylinders": rng.choice([4, 6, 8], rows),                 # a code: few small whole numbers
        "year": rng.choice([2001, 2004, 2007], rows),             # few whole numbers, not a code
        "pixel": rng.choice([0, 1, 8, 14], rows),                 # a few-valued pixel of an 8x8 image
        "visits": rng.integers(0, 60, rows),                      # a count with many values
        "price": rng.gamma(2.0, 3000.0, rows).round(2),           # 2 decimals
    })


def test_whole_numbers_are_categories_only_when_they_look_like_codes():
    kinds = {column.name: column.kind for column in Schema.fit(survey()).columns}
    assert kinds == {"age": "continuous", "score": "continuous", "cylinders": "categorical", "year": "integer",
                     "pixel": "integer", "visits": "integer", "price": "continuous"}


def test_columns_with_few_values_keep_to_them_unless_data_continuous_frees_them():
    table = survey()
    schema = Schema.fit(table)
    samples = schema.inverse(untrained_output(schema))
    for name in ("age", "score", "year", "pixel"):
        assert set(samples[name]) <= set(table[name]), name
        assert samples[name].nunique() > 2, name  # snapped to the levels, not collapsed onto one
    freed = Schema.fit(table, options=FitOptions(continuous=["age", "cylinders"]))
    free_samples = freed.inverse(untrained_output(freed))
    assert free_samples["age"].nunique() > 100 and free_samples["cylinders"].nunique() == 5  # 4 to 8, rounded
    assert samples["visits"].nunique() > 6  # many values: any whole number in range


@pytest.mark.parametrize("dtype, float32_in_files", [("float64", None), ("float32", None), ("float32", frozenset())],
                         ids=["float64", "float32", "float32-read-from-float64"])
def test_samples_keep_the_observed_precision(dtype, float32_in_files):
    table = survey()[["price", "visits"]].astype({"price": dtype})
    schema = Schema.fit(table, options=FitOptions(float32_in_files=float32_in_files))
    assert schema.columns[0].decimals == 2
    assert schema.inverse(untrained_output(schema))["price"].dtype == ("float64" if float32_in_files == set() else dtype)
    written = schema.inverse(untrained_output(schema)).to_csv(index=False)
    prices = pd.read_csv(io.StringIO(written), dtype={"price": str})["price"]
    assert prices.str.split(".").str[1].str.len().max() <= 2
    assert prices.str.contains(r"\.\d\d$").mean() > 0.5  # the two decimals are there, not dropped


def test_a_schema_from_a_checkpoint_without_precision_or_levels_still_loads():
    stored = Schema.fit(survey()[["price", "age"]]).to_dict()
    for column in stored["columns"]:
        del column["decimals"], column["levels"]
    older = Schema.from_dict(stored)
    samples = older.inverse(untrained_output(older))
    assert samples["age"].nunique() > 100  # computed values, as such checkpoints wrote them


def test_a_target_with_new_values_of_a_few_valued_number_keeps_to_them_too():
    source = Schema.fit(survey())
    target = survey(seed=1)
    target["pixel"] = np.random.default_rng(2).choice([0, 1, 5, 8, 14], len(target))
    grown = schema_for_target(source, target, data_cfg())
    assert grown.new_values(source) == {"pixel": [5.0]}
    assert grown.layout == source.layout  # no new outputs: the same networks
    assert 5 in set(grown.inverse(untrained_output(grown))["pixel"])


def test_the_printed_schema_says_how_each_column_was_read_and_the_key_that_changes_it():
    console = Console(file=io.StringIO(), width=250)
    console.print(describe(Schema.fit(survey())))
    rows = [line for line in console.file.getvalue().splitlines() if line.count("│") > 2]
    lines = {line.split("│")[1].strip(): line for line in rows}
    assert "keeps to its 6 values" in lines["age"] and "data.continuous=[age]" in lines["age"]
    assert "data.categorical=[age]" in lines["age"]
    assert "categorical" in lines["cylinders"] and "data.continuous=[cylinders]" in lines["cylinders"]
    assert "data.categorical=[visits]" in lines["visits"] and "keeps to" not in lines["visits"]


def test_the_few_values_benchmark_runs_at_toy_size(tmp_path, monkeypatch):
    import sys
    from pathlib import Path
    sys.path.insert(0, str(Path(__file__).parents[1] / "benchmarks"))
    monkeypatch.chdir(tmp_path)
    import few_values

    table = few_values.measure(tmp_path, rows=300, pretrain_steps=4, finetune_steps=2, seeds=1)
    assert sorted(table["reading"]) == sorted(list(few_values.READINGS) * 2)
    assert table[["age", "score", "income", "pairs", "quality"]].to_numpy().min() >= 0
