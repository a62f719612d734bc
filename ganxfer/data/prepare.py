"""From a data config to the encoded training rows a run trains on."""

import logging
from dataclasses import dataclass, replace
from typing import Callable

import numpy as np
import pandas as pd
import torch

from ganxfer.data import stream
from ganxfer.data.columns import NumericColumn
from ganxfer.data.conditions import Condition
from ganxfer.data.frames import at_most, compact, return_freed_memory
from ganxfer.data.images import check_pixel_range
from ganxfer.data.inference import FitOptions, as_numbers
from ganxfer.data.parquet import RowGroup
from ganxfer.data.rows import DeviceRows, Rows
from ganxfer.data.schema import Schema
from ganxfer.data.stream import StreamedRows
from ganxfer.data.split import split_table
from ganxfer.data.tables import float32_in_files, keep_chosen, load_table
from ganxfer.errors import UserError
from ganxfer.settings import Data

log = logging.getLogger(__name__)


@dataclass
class TrainingData:
    """The training rows only as encoded: their table is let go once encoded, as a large file's
    table would otherwise be held beside its array for the whole run."""

    schema: Schema
    # The training rows encoded by schema (float32): in memory, a tensor on the host that the run
    # moves to its device; streamed data (data.stream), the reader of this process's share of them.
    rows: Rows
    # Each training row's position in the file, recorded in checkpoints (streamed data: those of
    # RECORDED_TRAINING_ROWS rows of the schema's sample, all training rows)
    positions: np.ndarray
    holdout: pd.DataFrame  # real rows never trained on; the run's metrics compare against these
    labels: np.ndarray | None = None  # a conditional model's label index of each training row
    tasks: np.ndarray | None = None  # meta-learning: each training row's task, numbered from 0
    holdout_groups: list[int] | None = None  # streamed data: the held-out row groups

    def __enter__(self) -> "TrainingData":
        return self

    def __exit__(self, *raised) -> None:
        # Streamed rows may be reading a window ahead in a thread of their own, which must end
        # with the run however it ends.
        self.rows.close()


def _alone(part):
    return [part]


@dataclass(frozen=True)
class StreamOptions:
    """What streamed data need to know of the run: this process's place and the batches' size."""
    rank: int = 0
    processes: int = 1
    batch_size: int = 64
    seed: int = 0  # the order in which the row groups are walked
    # Every process's part of a table read by several (a collective under torchrun)
    combine: Callable[[pd.DataFrame | None], list] = _alone


@dataclass(frozen=True)
class SchemaChoice:
    """What decides the schema a run encodes its rows with, for data in memory and streamed alike."""
    source: Schema | None = None  # a finetune's source model's schema
    resumed: Schema | None = None  # a resumed run's checkpoint's schema, kept as it is
    remap: bool = False  # transfer.remap=true: target columns unlike the source's get a schema of their own

    def schema(self, train: pd.DataFrame, data: Data, fit: Callable[[], Schema]) -> Schema:
        """A resumed run's schema; else one fitted by `fit` (a pretrain, or a remapped target);
        else the source's, checked against the target rows `train`. A schema with no output at
        all (every column a single value) leaves nothing to learn."""
        if self.resumed is not None:
            schema = self.resumed
        elif fits_own_schema(self.source, self.remap, train, data):
            schema = fit()
        else:
            schema = schema_for_target(self.source, train, data)
        if schema.width == 0:
            raise UserError(f"every column of the data holds a single value ({', '.join(map(str, schema.names))}): "
                            "there is nothing for a generator to learn; give a file whose columns vary")
        return schema


def prepare(data: Data, source: Schema | None = None, resumed: Schema | None = None,
            conditional: bool = False, remap: bool = False, domain: str | None = None,
            task_column: str | None = None, streaming: StreamOptions = StreamOptions(),
            meta: str = "none") -> TrainingData:
    """Load, split and encode. A resumed run keeps its checkpoint's schema. A finetune run
    (`source` given) keeps the source model's schema, so the networks fit the data as they
    were trained, with the target's new categories appended; with data.range=widen the min-max
    ranges the target reaches past are widened to cover it; with data.refit=true the numeric
    scalings are fitted on the target instead. With `remap` (transfer.remap=true) target data
    whose columns differ from the source's get a schema of their own, fitted on the target like
    a pretrain run's.
    `conditional`: the schema also holds the label (data.label, or a conditional source's).
    `domain`: the rows' domain name, fine-tuning a model conditioned on the domain.
    `task_column`: the column whose values are meta-learning's tasks (data.label, or the domain).
    `meta`: meta.name, which needs every training row in memory.
    Parquet data above data.stream's threshold are streamed (prepare_streamed)."""
    choice = SchemaChoice(source, resumed, remap)
    groups = stream.streamed_row_groups(data)
    if groups is not None:
        _check_streamable(data, conditional or domain is not None, meta)
        return prepare_streamed(data, groups, choice, streaming)
    table = load_table(data, domain)
    split = split_table(table, data)
    schema = choice.schema(split.train, data, lambda: fit_schema(split.train, table, data))
    if conditional and resumed is None:
        schema = schema.with_condition(_condition(table, split.train, data, schema, source))
    labels = schema.condition.indices(split.train[schema.condition.column]) if schema.condition else None
    tasks = None if task_column is None else _task_numbers(split.train, task_column)
    del table  # a large file is held once less while the rows are encoded
    return_freed_memory()
    rows, positions, holdout = schema.transform(split.train), split.train.index.to_numpy(), split.holdout
    del split
    return_freed_memory()
    return TrainingData(schema, DeviceRows(torch.from_numpy(rows)), positions, holdout, labels, tasks)


def _task_numbers(train: pd.DataFrame, column: str) -> np.ndarray:
    """Each row's task: the place of its value of `column` among the column's sorted values."""
    if column not in train.columns:
        raise UserError(f"the data have no column {column!r} to draw meta-learning's tasks from")
    if train[column].isna().any():
        raise UserError(f"the column {column!r} has gaps: every row needs a task for meta-learning")
    values = train[column].astype(str)
    return np.searchsorted(np.sort(values.unique()), values.to_numpy()).astype(np.int64)


def prepare_streamed(data: Data, groups: list[RowGroup], choice: SchemaChoice, streaming: StreamOptions) -> TrainingData:
    """Streamed data (ganxfer/data/stream.py): whole row groups held out, the schema fitted on a
    seeded sample of training row groups (or chosen from the source's as data in memory choose
    it), and a reader of this process's share of the others. `groups`: every row group, with the
    footers data.stream's choice read them from."""
    split = stream.split_groups(groups, data.holdout, data.split_seed)
    sample = keep_chosen(compact(_read_seeded(groups, split.train, stream.SCHEMA_SAMPLE_ROWS, data, streaming)),
                         data)
    holdout = keep_chosen(compact(_read_seeded(groups, split.holdout, stream.HOLDOUT_KEPT_ROWS, data, streaming)),
                          data, part=True)
    schema = choice.schema(sample, data, lambda: fit_schema(sample, sample, data).with_ranges(
        stream.footer_ranges(groups, split.train)))
    positions = at_most(sample, stream.RECORDED_TRAINING_ROWS, data.split_seed).index.to_numpy()
    share = stream.rank_share(split.train, streaming.rank, streaming.processes)

    def encode(table: pd.DataFrame) -> np.ndarray:  # each window, as it is read
        return schema.transform(keep_chosen(compact(table), data, part=True))

    rows = StreamedRows.plan(groups, split.train, share, encode, data.buffer_rows, streaming.batch_size,
                             streaming.seed, streaming.processes)
    return TrainingData(schema, rows, positions, holdout, holdout_groups=split.holdout)


def _read_seeded(groups, among: list[int], rows: int, data: Data, streaming: StreamOptions) -> pd.DataFrame:
    """At least `rows` rows of whole row groups among `among`, drawn by data.split_seed, each read
    by one process (the one that trains on it) and passed to the others."""
    chosen = stream.seeded_choice(groups, among, rows, data.split_seed)
    return stream.read_spread(groups, chosen, among, streaming.rank, streaming.processes, streaming.combine)


def _check_streamable(data: Data, conditional: bool, meta: str) -> None:
    """Selecting rows by label, keeping a few of them, or drawing meta-learning's tasks from them
    needs the whole table: not streamed."""
    for key in ("label", "classes", "shots"):
        if getattr(data, key) is not None:
            raise UserError(f"data.{key} needs the whole table in memory, and {data.path} is streamed "
                            "(data.stream): set data.stream=false to read it into memory")
    if conditional:
        raise UserError(f"a conditional model needs its labels in memory, and {data.path} is streamed "
                        "(data.stream): set data.stream=false to read it into memory")
    if meta != "none":
        raise UserError(f"meta={meta} draws its tasks from rows in memory, and {data.path} is streamed "
                        "(data.stream): set data.stream=false to read it into memory")


def _condition(table: pd.DataFrame, train: pd.DataFrame, data: Data, schema: Schema, source: Schema | None):
    """A source's labels keep their places (and embedding rows); the target's new ones follow."""
    if source is not None and source.condition is not None:
        return source.condition.extended(table, train, schema.names)
    if not data.label:
        raise UserError("model.conditional=true needs a label to condition on: set data.label=COLUMN")
    return Condition.fit(table, train, data.label, schema.names)


def fit_schema(train: pd.DataFrame, table: pd.DataFrame, data: Data) -> Schema:
    """Kinds and pixel ranges are read from every row (`table`), statistics from `train` only."""
    exclude = [data.label] if data.label else []
    if data.shape is not None:
        return Schema.fit_image(table, data.shape, data.pixel_range, exclude)
    options = replace(FitOptions.from_settings(data), float32_in_files=float32_in_files(data))
    return Schema.fit(train, exclude, options, kinds_from=table)


def schema_for_target(source: Schema, table: pd.DataFrame, data: Data) -> Schema:
    """The source model's schema, checked against the target rows: refitted on them on request
    (data.refit=true), else with min-max ranges widened to cover them (data.range=widen)."""
    generated = _generated_names(table, data, source)
    check_same_columns(source.names, generated, images=source.image_shape is not None)
    if source.image_shape is not None:
        check_pixel_range(source.columns[0], table[source.names], data.pixel_range)
        return source
    beyond = {column: _check_fits(column, table[column.name]) for column in source.columns}
    refitted = _columns_to_refit(source, table, data.refit)
    covering = source.covering(table) if data.widens_ranges else source
    widened = {after.name: (before, after) for before, after in zip(source.columns, covering.columns)
               if after is not before and after.name not in refitted}
    _say_widened(list(widened.values()))
    _say_beyond_range({column: count for column, count in beyond.items()
                       if count and column.name not in widened and column.name not in refitted})
    schema = covering.with_new_values(table)
    _say_new_values(schema.new_values(source))
    return schema.refit(table, refitted) if refitted else schema


# data.refit=auto refits a numeric column whose target values span less than this share of the
# source's range: there the source's scaling leaves the target a sliver of G's output, and the
# source's weights keep generating its far values (docs/transfer.md, "A blind pair" and "Where
# the defaults came from", measure it).
NARROW_SHARE = 0.1


def _columns_to_refit(source: Schema, table: pd.DataFrame, refit) -> set[str]:
    """The numeric columns whose scaling a finetune fits on the target rows: all of them
    (data.refit=true), none (false), or those the target fills a small part of (auto), said in
    the log with the share of the source's range the target spans."""
    if refit is True:
        return {column.name for column in source.columns if isinstance(column, NumericColumn)}
    if refit != "auto":
        return set()
    narrow = {name: share for name, share in source.spans(table).items() if share < NARROW_SHARE}
    if narrow:
        shares = "; ".join(f"{name!r}: {share:.1%}" for name, share in narrow.items())
        log.info("data.refit=auto: %d numeric column(s) of the target span under %d%% of the source model's "
                 "range (%s), so their scaling is fitted on the target's rows; the other columns keep the "
                 "source's (data.refit=false keeps every one, true refits every one)",
                 len(narrow), round(NARROW_SHARE * 100), shares)
    return set(narrow)


def _say_widened(widened: list[tuple]) -> None:
    """One warning naming each column whose range data.range=widen widened, and its new range."""
    if widened:
        ranges = "; ".join(f"{after.name!r}: [{before.low:g}, {before.high:g}] -> [{after.low:g}, {after.high:g}]"
                           for before, after in widened)
        log.warning("%d column(s) hold target values outside the source model's range, which is widened to "
                    "cover them (%s), the networks' weights mapped to the wider scaling; data.range=source keeps "
                    "the source's range", len(widened), ranges)


def _say_new_values(new: dict[str, list]) -> None:
    """One line: a new value in the target is the usual shape of domain shift, not an error."""
    if new:
        added = "; ".join(f"{name!r}: {_few(values)}" for name, values in new.items())
        log.info("the target brings values the source model never saw (%s): new categories are added to "
                 "the networks, each starting as the mean of its column's source categories, and few-valued "
                 "numbers keep to their new values too", added)


def fits_own_schema(source: Schema | None, remap: bool, train: pd.DataFrame, data: Data) -> bool:
    """Whether a run fits a schema of its own on its training rows (as a pretrain does) rather
    than keep the source's: with no source, or with transfer.remap=true and columns that differ
    from the source's. Data in memory and streamed data decide alike."""
    return source is None or (remap and differs_from_source(source, train, data))


def differs_from_source(source: Schema, table: pd.DataFrame, data: Data) -> bool:
    """True when a table's columns are not the source's: what transfer.remap=true carries the
    networks over. (New categories alone need no remap: the source's schema grows to hold them.)
    Images keep their shape, so never differ here."""
    if source.image_shape is not None:
        return False
    return sorted(source.names) != sorted(_generated_names(table, data, source))


def check_same_columns(source: list[str], target: list[str], images: bool = False) -> None:
    """Columns are matched by name (their order may differ); any missing or new one stops the run."""
    missing = [name for name in source if name not in target]
    new = [name for name in target if name not in source]
    if missing or new:
        matching = [name for name in source if name in target]
        remedy = ("Images keep their shape from source to target: fine-tune on images of the "
                  "source's size" if images else
                  "With transfer.remap=true the networks are carried over to the target's columns "
                  "(the weights of shared columns kept, new ones fresh); or data.drop=[...] leaves new ones out")
        raise UserError(
            "the target data's columns differ from the source model's: "
            f"{len(matching)} match ({_few(matching)}); missing from the target: {_few(missing)}; "
            f"new in the target: {_few(new)}. {remedy}")


def _generated_names(table: pd.DataFrame, data: Data, source: Schema) -> list[str]:
    """Neither the data's label nor a conditional source's label (or domain) column is generated."""
    condition = source.condition.column if source.condition else None
    return [str(name) for name in table.columns if name not in (data.label, condition)]


def _check_fits(column, series: pd.Series) -> int:
    """Text where the source model generates numbers stops the run; gaps it does not model are
    taken as they come, and said so. Returns how many values lie outside the source's range."""
    outside = 0
    if isinstance(column, NumericColumn):
        numbers = as_numbers(series.dropna(), column.name)
        if numbers is None:
            raise UserError(f"column {column.name!r} holds text in the target data; the source model "
                            "generates numbers there")
        outside = int(((numbers < column.low) | (numbers > column.high)).sum())
    gaps = int(series.isna().sum())
    if gaps and not column.models_gaps:
        log.warning("column %r has %d gap(s) in the target, where the source model generates none: "
                    "they are filled with %s", column.name, gaps, column.stand_in())
    return outside


def _say_beyond_range(outside: dict) -> None:
    """One warning for every column whose target values reach past the source's range, where it
    is kept (data.range=source, or a scaling other than min-max): the source model's samples keep
    to that range."""
    if not outside:
        return
    columns = "; ".join(f"{column.name!r}: {count} value(s) outside [{column.low:g}, {column.high:g}]"
                        for column, count in outside.items())
    log.warning("%d column(s) hold target values outside the source model's range, which its samples keep to "
                "(%s); data.range=widen widens min-max ranges, data.refit=true fits the target's range", len(outside), columns)


def _few(names: list, shown: int = 8) -> str:
    if not names:
        return "none"
    more = f" and {len(names) - shown} more" if len(names) > shown else ""
    return ", ".join(map(_as_written, names[:shown])) + more


def _as_written(value) -> str:
    """A value as a file would hold it: a number read as float32 (0.144) without the digits its
    widening to float64 adds (0.14399999380111694)."""
    if isinstance(value, float) and float(np.float32(value)) == value:
        return str(np.float32(value))
    return str(value)
