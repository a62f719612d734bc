"""data.refit=auto: a finetune fits on the target's rows the scaling of each numeric column that
the target fills a small part of (under a tenth of the source's range), and keeps the source's
scaling for the others."""

import logging

import numpy as np
import pandas as pd
import pytest
from omegaconf import OmegaConf

from conftest import TINY, load_last
from ganxfer.data import Schema
from ganxfer.data.prepare import NARROW_SHARE, schema_for_target
from ganxfer.errors import UserError
from ganxfer.transfer import ranges
from ganxfer.validate import check_values

from test_data import data_cfg


def towns(rows: int, largest: float, seed: int) -> pd.DataFrame:
    """Town sizes spread over several orders of magnitude up to about `largest`, and ages that do
    not depend on the size."""
    rng = np.random.default_rng(seed)
    size = np.exp(rng.uniform(np.log(20), np.log(largest), rows)).round(0)
    return pd.DataFrame({"size": size, "age": rng.normal(40, 8, rows).round(1),
                         "kind": rng.choice(["village", "town"], rows)})


def column(schema: Schema, name: str):
    return schema.columns[schema.names.index(name)]


def test_refit_auto_fits_the_target_scaling_of_a_column_it_fills_a_small_part_of_and_keeps_the_others():
    source = Schema.fit(towns(600, 2_000_000, 0))
    target = towns(100, 3_000, 1)
    schema = schema_for_target(source, target, data_cfg(refit="auto"))
    size, age = column(schema, "size"), column(schema, "age")
    assert (size.low, size.high) == (target["size"].min(), target["size"].max())
    assert (size.scaler.low, size.scaler.high) == (size.low, size.high)
    assert age is column(source, "age")  # the target's ages fill much of the source's range
    assert schema.outputs == source.outputs  # the same networks fit it


def test_the_share_under_which_a_column_is_refitted_is_a_tenth_of_the_source_range():
    """Chosen on the tuning pairs (docs/transfer.md, "Where the defaults came from"): the pin
    fails when the share changes."""
    assert NARROW_SHARE == 0.1
    ends = pd.DataFrame({"a": [0.0, 100.0], "b": [0.0, 100.0]})
    source = Schema.fit(pd.concat([ends, pd.DataFrame({"a": np.linspace(0, 100, 50),
                                                        "b": np.linspace(0, 100, 50)})], ignore_index=True))
    target = pd.DataFrame({"a": np.linspace(50, 59, 20), "b": np.linspace(50, 61, 20)})  # spans 9% and 11%
    assert source.spans(target) == pytest.approx({"a": 0.09, "b": 0.11})
    schema = schema_for_target(source, target, data_cfg(refit="auto"))
    assert (column(schema, "a").low, column(schema, "a").high) == (50.0, 59.0)
    assert column(schema, "b") is column(source, "b")


def test_refit_auto_says_which_columns_it_refitted_and_the_share_of_the_range_they_span(caplog):
    source = Schema.fit(towns(600, 2_000_000, 0))
    with caplog.at_level(logging.INFO, logger="ganxfer.data.prepare"):
        schema_for_target(source, towns(100, 3_000, 1), data_cfg(refit="auto"))
    said = [record.getMessage() for record in caplog.records if "data.refit=auto" in record.getMessage()]
    assert len(said) == 1 and "'size': 0.1%" in said[0] and "'age'" not in said[0]


def test_refit_false_and_true_keep_their_meaning_beside_auto():
    source = Schema.fit(towns(600, 2_000_000, 0))
    target = towns(100, 3_000, 1)
    assert schema_for_target(source, target, data_cfg(refit=False)) is source
    everything = schema_for_target(source, target, data_cfg(refit=True))
    assert column(everything, "age").low == target["age"].min()  # refitted although it spans most of the range


def test_refit_auto_with_widen_maps_the_weights_of_the_widened_columns_only():
    """A column the target reaches past is widened and its weights mapped; a column refitted on
    the target is a new scaling, to which the source's weights are not mapped."""
    rng = np.random.default_rng(0)
    source = Schema.fit(pd.DataFrame({"x": rng.uniform(0, 100, 300), "y": rng.uniform(0, 1000, 300)}))
    target = pd.DataFrame({"x": rng.uniform(90, 130, 80), "y": rng.uniform(10, 20, 80)})
    schema = schema_for_target(source, target, data_cfg(refit="auto", range="widen"))
    assert column(schema, "x").high == target["x"].max() and column(schema, "x").low == column(source, "x").low
    assert (column(schema, "y").low, column(schema, "y").high) == (target["y"].min(), target["y"].max())
    assert list(ranges.affine_maps(source, schema)) == [source.outputs.index(("x", "minmax"))]


@pytest.mark.parametrize("value, refused", [("auto", False), (True, False), (False, False), ("maybe", True)])
def test_data_refit_takes_auto_true_or_false(value, refused):
    config = OmegaConf.create({"data": {"refit": value}})
    if refused:
        with pytest.raises(UserError, match="data.refit='maybe' must be auto, true or false"):
            check_values(config)
    else:
        check_values(config)


def test_a_finetune_refits_a_column_its_target_fills_a_small_part_of_by_default(tmp_path, ganxfer):
    """The default is data.refit=auto: on the tuning pair whose target fills under 1% of its
    source's heavy-tailed range it brought FD from a thousand to the own run's order, and it left
    the other tuning pairs within their seeds' spread (docs/transfer.md, "Where the defaults came
    from")."""
    towns(600, 2_000_000, 0).to_csv(tmp_path / "source.csv", index=False)
    target = towns(100, 3_000, 1)
    target.to_csv(tmp_path / "target.csv", index=False)
    pretrained = ganxfer("pretrain", "data=csv", f"data.path={tmp_path / 'source.csv'}", *TINY)
    finetuned = load_last(ganxfer("finetune", f"ckpt={pretrained}/checkpoints/last.ckpt", "data=csv",
                                  f"data.path={tmp_path / 'target.csv'}", *TINY, "data.holdout=0.5"))
    source = Schema.from_dict(load_last(pretrained)["schema"])
    schema = Schema.from_dict(finetuned["schema"])
    assert column(schema, "size").high <= target["size"].max() < column(source, "size").high / 100
    assert column(schema, "age").to_dict() == column(source, "age").to_dict()
