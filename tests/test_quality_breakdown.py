"""The quality score's breakdown: which columns' shapes and which column pairs the synthetic rows
get wrong, in metrics.json and in evaluate's printout."""

import io
import json

import numpy as np
import pandas as pd
import pytest

from conftest import TINY
from ganxfer.metrics import quality, quality_breakdown


def real_and_fake(rows=1000, seed=0):
    """Fake rows equal to the real ones but for three faults: `city` always Oslo, `income`
    shifted by half its range, and `b` no longer following `a`."""
    rng = np.random.default_rng(seed)
    a = rng.normal(size=rows)
    real = pd.DataFrame({"a": a, "b": a + 0.1 * rng.normal(size=rows), "income": np.arange(rows) / rows,
                         "city": np.where(np.arange(rows) % 2 == 0, "Oslo", "Lima"), "c": rng.normal(size=rows)})
    fake = real.copy()
    fake["city"] = "Oslo"
    fake["income"] = real["income"] + 0.5
    fake["b"] = rng.permutation(real["b"].to_numpy())
    return real, fake


def test_each_column_gets_its_own_score_and_test_worst_first():
    real, fake = real_and_fake()
    shapes = quality_breakdown(real, fake)["column_shapes"]
    assert set(list(shapes)[:2]) == {"city", "income"}  # the two broken shapes (b keeps its own shape)
    assert shapes["city"] == {"score": pytest.approx(0.5), "test": "TV"}  # half the rows change category
    assert shapes["income"] == {"score": pytest.approx(0.5, abs=0.002), "test": "KS"}  # shifted by half the range
    for name in ("a", "b", "c"):
        assert shapes[name] == {"score": pytest.approx(1.0), "test": "KS"}
    # The breakdown is what the headline score averages.
    assert np.mean([part["score"] for part in shapes.values()]) == pytest.approx(
        quality(real, fake)["quality_column_shapes"])


def test_the_worst_pairs_name_the_relation_that_broke():
    real, fake = real_and_fake()
    worst = quality_breakdown(real, fake, worst=2)["worst_column_pairs"]
    assert len(worst) == 2 and worst[0]["columns"] == ["a", "b"]
    assert worst[0]["real_correlation"] > 0.99 and abs(worst[0]["synthetic_correlation"]) < 0.1
    gap = worst[0]["real_correlation"] - worst[0]["synthetic_correlation"]
    assert worst[0]["score"] == pytest.approx(1 - gap / 2)
    assert worst[0]["score"] < 0.6 < 0.9 < worst[1]["score"]  # the other pairs kept their relations


def test_evaluate_writes_and_prints_the_breakdown_and_says_where(ganxfer, tmp_path, capsys):
    rng = np.random.default_rng(0)
    pd.DataFrame({"x": rng.normal(size=150), "y": rng.normal(size=150), "shop": rng.choice(["north", "south"], 150),
                  "year": rng.integers(2001, 2006, 150)}).to_csv(tmp_path / "shops.csv", index=False)
    run = ganxfer("pretrain", "data=csv", f"data.path={tmp_path / 'shops.csv'}", *TINY)
    capsys.readouterr()
    out = ganxfer("evaluate", f"ckpt={run / 'checkpoints' / 'last.ckpt'}", "metrics=[quality]")
    printed = " ".join(capsys.readouterr().out.split())  # the console wraps long lines
    record = json.loads((out / "metrics.json").read_text())
    shapes = record["quality_breakdown"]["column_shapes"]
    assert set(shapes) == {"x", "y", "shop", "year"} and shapes["shop"]["test"] == "TV"
    # Scored as the run's schema read it: five whole numbers that are not codes are a number.
    assert shapes["year"]["test"] == "KS"
    assert np.mean([part["score"] for part in shapes.values()]) == pytest.approx(record["quality_column_shapes"])
    pairs = record["quality_breakdown"]["worst_column_pairs"]
    assert sorted(pair["columns"] for pair in pairs) == [["x", "y"], ["x", "year"], ["y", "year"]]
    assert [pair["score"] for pair in pairs] == sorted(pair["score"] for pair in pairs)
    assert "column shapes, worst first" in printed and "column pairs, worst first" in printed
    assert f"wrote{out / 'metrics.json'}andtheplots" in printed.replace(" ", "")  # paths may wrap anywhere
    assert "marginals.png" in printed


def test_the_printed_column_shapes_say_how_many_of_the_columns_they_show():
    from rich.console import Console

    from ganxfer.figures import breakdown_tables

    def title(columns: int) -> str:
        real = pd.DataFrame({f"x{i}": np.arange(20.0) * (i + 1) for i in range(columns)})
        console = Console(file=io.StringIO(), width=250)
        console.print(breakdown_tables("quality", quality_breakdown(real, real + 1))[0])
        printed = console.file.getvalue()
        return " ".join(printed[:printed.index("┏")].split())  # the title, wrapped to the table's width

    assert title(12) == "quality: column shapes, worst first: 10 of 12, all in metrics.json (1 = as the real rows)"
    assert title(4) == "quality: column shapes, worst first (1 = as the real rows)"


def test_a_long_title_stands_on_one_line_above_a_narrow_table_where_the_terminal_allows():
    from rich.console import Console

    from ganxfer.figures import breakdown_tables

    real = pd.DataFrame({f"x{i}": np.arange(20.0) * (i + 1) for i in range(12)})
    console = Console(file=io.StringIO(), width=120)
    console.print(breakdown_tables("quality", quality_breakdown(real, real + 1))[0])
    first_line = console.file.getvalue().splitlines()[0].strip()
    assert first_line == "quality: column shapes, worst first: 10 of 12, all in metrics.json (1 = as the real rows)"
