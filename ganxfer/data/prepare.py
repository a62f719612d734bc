"""From a data config to the scaled training rows a run trains on."""

from dataclasses import dataclass

import numpy as np

from ganxfer.data.schema import Schema
from ganxfer.data.tables import DataSplit, load_table, split_table
from ganxfer.errors import UserError


@dataclass
class TrainingData:
    split: DataSplit
    schema: Schema
    rows: np.ndarray  # split.train scaled by schema (float32), ready to become one device tensor


def prepare(data_cfg, source: Schema | None = None, resumed: Schema | None = None) -> TrainingData:
    """Load, split and scale. A resumed run keeps its checkpoint's schema; a finetune run
    (`source` given) must have the source model's columns and refits the scaling on its data."""
    split = split_table(load_table(data_cfg), data_cfg)
    if resumed is not None:
        schema = resumed
    else:
        schema = Schema.fit(split.train, exclude=[data_cfg.label] if data_cfg.label else [])
        if source is not None:
            check_same_columns(source, schema)
    return TrainingData(split, schema, schema.transform(split.train))


def check_same_columns(source: Schema, target: Schema) -> None:
    if source.names != target.names:
        only_source = sorted(set(source.names) - set(target.names))
        only_target = sorted(set(target.names) - set(source.names))
        raise UserError(
            "the target data's columns differ from the source model's: "
            f"missing {only_source or 'none'}, extra {only_target or 'none'}"
            + ("" if only_source or only_target else " (same names, different order)"))
