"""Parquet data too large to hold in memory, streamed: read a window of row groups at a time.

The unit of everything here is the Parquet row group, known from the files' footers without
reading any data:
- the held-out share is a seeded choice of whole row groups (data.holdout of them, by
  data.split_seed), so every process and every resumed run agrees on it without reading a row;
- under torchrun each process trains on its own share of the training row groups (every
  WORLD_SIZE-th one), so no row group is read for training by two processes;
- the schema is fitted on a seeded sample of training row groups (SCHEMA_SAMPLE_ROWS rows), the
  numbers' ranges widened to the exact ones of the footers' statistics (footer_ranges); each
  row group of it (and of the held-out rows kept for metrics) is read by one process and its rows
  passed to the others, so that under torchrun no row group is read by two processes at all;
- training walks the process's row groups in a seeded order, one window of about
  data.buffer_rows rows at a time; each window serves a fixed number of steps, and the next
  one is read in a background thread meanwhile, so the loop waits on the disk only when reading
  a window takes longer than training on one.

Which window step s trains on is a function of s alone, so the reader's position (the window and
the steps into it) is saved with each checkpoint and a resumed run reads the same windows and,
drawing with the saved random stream, the same batches as a run that was never stopped."""

import math
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import pandas as pd
import torch

from ganxfer.data.parquet import RowGroup, check_like, plain, reading, shards
from ganxfer.errors import UserError
from ganxfer.runtime import console
from ganxfer.settings import Data

# data.stream=auto streams a table whose rows x columns x 8 bytes exceed this: about 13M rows of
# 10 columns; below it the in-memory path (exact rows, no windows) costs little.
STREAM_ABOVE_BYTES = 1 << 30
# The schema's kinds, categories and scalings are fitted on this many training rows (whole row
# groups, drawn by data.split_seed). A quantile estimated from n random rows is off by about
# 1/sqrt(n) in rank (0.1% here), and a category as rare as 1 row in 200,000 is missed with
# probability e^-5 (<1%): rarer ones encode as no category at all.
SCHEMA_SAMPLE_ROWS = 1_000_000
# Held-out rows kept in memory for the run's metrics (whole held-out row groups, by data.split_seed).
HOLDOUT_KEPT_ROWS = 100_000
# Training rows whose positions a checkpoint records (drawn from the schema's sample): for
# `evaluate`'s memorisation checks, and to tell on resume that the data are the same.
RECORDED_TRAINING_ROWS = 100_000


def streamed_row_groups(data: Data) -> list[RowGroup] | None:
    """The row groups this data config trains from as a stream (data.stream: auto | true | false),
    or None where it reads the data into memory. data.stream=auto decides from the same footers
    the stream then reads from, so each is read once."""
    choice = str(data.stream).lower()
    if choice == "false" or data.kind != "csv" or data.shape is not None:
        return None
    files = shards(data.path)
    parquet = all(file.suffix.lower() == ".parquet" for file in files)
    if choice == "true":
        if not parquet:
            raise UserError(f"data.stream=true reads Parquet row groups; {data.path} holds CSV files: "
                            "convert them to Parquet, or set data.stream=false")
        return row_groups(data.path)
    if choice != "auto":
        raise UserError(f"data.stream={choice}: choose auto, true or false")
    if not parquet:
        return None
    groups = row_groups(data.path)
    width = groups[0].footer.num_columns  # every shard's, as row_groups checks
    return groups if sum(group.rows for group in groups) * width * 8 > STREAM_ABOVE_BYTES else None


def row_groups(path) -> list[RowGroup]:
    """Every non-empty row group of a Parquet file or folder, in shard order, read from the footers;
    every shard's columns and types are checked against the first one's."""
    import pyarrow.parquet as pq

    found, first = [], None
    for shard in shards(path):
        with reading(shard):
            metadata = pq.ParquetFile(shard).metadata
            dtypes = metadata.schema.to_arrow_schema().empty_table().to_pandas().dtypes
        first = first if first is not None else (shard, dtypes)
        check_like(shard, dtypes, *first)
        found += [RowGroup(str(shard), index, metadata.row_group(index).num_rows, metadata)
                  for index in range(metadata.num_row_groups) if metadata.row_group(index).num_rows]
    if not found:
        raise UserError(f"data {path} has columns but no rows")
    return found


@dataclass(frozen=True)
class GroupSplit:
    train: list[int]  # numbers of the training row groups (their place in row_groups' list)
    holdout: list[int]


def split_groups(groups: list[RowGroup], holdout: float, seed: int) -> GroupSplit:
    """A seeded share of whole row groups held out: ceil(holdout x groups) of them, at least one."""
    if len(groups) < 2:
        raise UserError(f"the data have {len(groups)} row group: streaming holds out whole row groups, so it "
                        "needs at least 2 (write the file with smaller row groups, or set data.stream=false)")
    order = np.random.RandomState(seed).permutation(len(groups))
    held = min(max(1, math.ceil(holdout * len(groups))), len(groups) - 1)
    return GroupSplit(train=sorted(order[held:].tolist()), holdout=sorted(order[:held].tolist()))


def first_rows(groups: list[RowGroup]) -> np.ndarray:
    """Each row group's first row's position in the whole table (shards in name order)."""
    return np.concatenate([[0], np.cumsum([group.rows for group in groups])[:-1]]).astype(np.int64)


def read_groups(groups: list[RowGroup], numbers, columns: list[str] | None = None) -> pd.DataFrame:
    """The rows of the row groups `numbers`, indexed by their position in the whole table."""
    import pyarrow.parquet as pq

    starts = first_rows(groups)
    parts = []
    for number in numbers:
        group = groups[number]
        with reading(group.shard):
            shard = pq.ParquetFile(group.shard, metadata=group.footer)
            part = plain(shard.read_row_group(group.index, columns=columns).to_pandas())
        part.index = pd.RangeIndex(starts[number], starts[number] + len(part))
        parts.append(part)
    return pd.concat(parts) if len(parts) > 1 else parts[0]


def seeded_choice(groups: list[RowGroup], numbers: list[int], rows: int, seed: int) -> list[int]:
    """Whole row groups among `numbers`, in a seeded order, until at least `rows` rows (or all)."""
    order = np.random.RandomState(seed).permutation(numbers)
    counts = np.cumsum([groups[number].rows for number in order])
    enough = int(np.searchsorted(counts, rows)) + 1
    return sorted(order[:enough].tolist())


def read_spread(groups: list[RowGroup], chosen: list[int], among: list[int], rank: int, processes: int,
                combine: Callable[[pd.DataFrame | None], list]) -> pd.DataFrame:
    """The rows of the row groups `chosen` (some of `among`), each read by one process, the one
    whose rank_share of `among` holds it, and passed to all by `combine` (which returns every
    process's part): every process gets the same table, and no row group is read twice."""
    owner = {number: place % processes for place, number in enumerate(among)}
    mine = [number for number in chosen if owner[number] == rank]
    parts = [part for part in combine(read_groups(groups, mine) if mine else None) if part is not None]
    return pd.concat(parts).sort_index() if len(parts) > 1 else parts[0]


def footer_ranges(groups: list[RowGroup], numbers: list[int]) -> dict[str, tuple[float, float]]:
    """Each numeric column's exact minimum and maximum over the row groups `numbers`, from the
    statistics in the footers row_groups read, without reading a row; a column is left out where a
    row group's footer lacks them."""
    ranges, lacking = {}, set()
    for number in numbers:
        group = groups[number]
        row_group = group.footer.row_group(group.index)
        for place in range(row_group.num_columns):
            column = row_group.column(place)
            name, statistics = column.path_in_schema, column.statistics
            if statistics is not None and statistics.has_null_count and statistics.null_count == group.rows:
                continue  # only gaps here
            if statistics is None or not statistics.has_min_max:
                lacking.add(name)
            elif isinstance(statistics.min, (int, float)) and not isinstance(statistics.min, bool):
                low, high = ranges.get(name, (statistics.min, statistics.max))
                ranges[name] = (min(low, statistics.min), max(high, statistics.max))
    return {name: (float(low), float(high)) for name, (low, high) in ranges.items() if name not in lacking}


def rank_share(numbers: list[int], rank: int, world: int) -> list[int]:
    """The training row groups one process reads: every world-th one, from its rank on."""
    share = numbers[rank::world]
    if not share:
        raise UserError(f"the data have {len(numbers)} training row group(s) for {world} processes: each "
                        "process streams whole row groups, so write the file with smaller row groups")
    return share


@dataclass
class StreamedRows:
    """A process's training rows (data/rows.py's `Rows`), read one window of row groups at a time;
    `for_step(step)` is the window step `step` trains on, as a tensor on `device`. `encode` turns a
    table into the generator's float32 rows (the schema's transform, after the run's column choices)."""

    groups: list[RowGroup]
    share: list[int]  # this process's training row groups
    encode: Callable[[pd.DataFrame], np.ndarray]
    window_groups: int  # row groups per window
    steps_per_window: int  # the same on every process, so that all change windows together
    seed: int
    total_rows: int  # the training rows of every process together
    processes: int = 1  # how many share the row groups: saved with the position, as it changes the share
    device: torch.device = torch.device("cpu")
    _window: tuple[int, torch.Tensor] | None = field(default=None, repr=False)
    _next: tuple[int, Future] | None = field(default=None, repr=False)
    _reader: ThreadPoolExecutor | None = field(default=None, repr=False)

    @classmethod
    def plan(cls, groups, train: list[int], share: list[int], encode, buffer_rows: int, batch_size: int,
             seed: int, processes: int = 1) -> "StreamedRows":
        """Windows of about `buffer_rows` rows, each serving as many steps as its rows make batches
        (so an epoch draws about as many rows as the share holds), computed from every training
        row group so that every process, in any number of them, agrees. (A window larger than the
        share holds the whole share, in a new order each pass.)"""
        total = sum(groups[number].rows for number in train)
        mean_rows = total / len(train)
        window_groups = max(1, round(buffer_rows / mean_rows))
        steps = max(1, round(window_groups * mean_rows / batch_size))
        return cls(groups, share, encode, window_groups, steps, seed, total, processes)

    def __len__(self) -> int:
        return self.total_rows

    def to(self, device) -> "StreamedRows":
        self.device = torch.device(device)
        return self

    @property
    def windows_per_epoch(self) -> int:
        return math.ceil(len(self.share) / self.window_groups)

    def window_of(self, step: int) -> int:
        """The window (counted from the run's start) that step `step` (from 1) trains on."""
        return (step - 1) // self.steps_per_window

    def position(self, step: int) -> dict:
        """Where the reader stands after `step`, and over how many processes' shares: saved in
        checkpoints, checked on resume. (The window depends on the step alone, not on the number of
        processes, so that number is saved for its own sake.)"""
        return {"window": self.window_of(step + 1), "steps_into_window": step % self.steps_per_window,
                "steps_per_window": self.steps_per_window, "window_groups": self.window_groups,
                "processes": self.processes}

    def resume(self, saved: dict | None, step: int) -> None:
        check_same_position(saved, self.position(step))

    def held(self) -> None:
        return None  # one window at a time

    def describe(self) -> str:
        return f"{len(self)} training rows (streamed)"

    def groups_of(self, window: int) -> list[int]:
        """The row groups of a window: the share in a seeded order per pass (epoch), cut in windows."""
        epoch, place = divmod(window, self.windows_per_epoch)
        entropy = [self.seed % 2**64, epoch]
        order = np.random.default_rng(np.random.SeedSequence(entropy)).permutation(self.share)
        return order[place * self.window_groups:(place + 1) * self.window_groups].tolist()

    def for_step(self, step: int) -> torch.Tensor:
        window = self.window_of(step)
        if self._window is None or self._window[0] != window:
            self._window = (window, self._take(window))
            self._read_ahead(window + 1)
        return self._window[1]

    def _take(self, window: int) -> torch.Tensor:
        if self._next is not None and self._next[0] == window:
            return self._next[1].result()
        return self._read(window)

    def _read_ahead(self, window: int) -> None:
        if self._reader is None:
            self._reader = ThreadPoolExecutor(max_workers=1, thread_name_prefix="read-ahead")
        self._next = (window, self._reader.submit(self._read, window))

    def _read(self, window: int) -> torch.Tensor:
        rows = self.encode(read_groups(self.groups, self.groups_of(window)))
        return torch.from_numpy(rows).to(self.device)

    def close(self) -> None:
        """Ends the read-ahead thread (a window being read is finished first); may be called again."""
        if self._reader is not None:
            self._reader.shutdown(wait=True, cancel_futures=True)
        self._reader, self._next = None, None


def check_same_position(saved: dict | None, computed: dict) -> None:
    """A streamed run continues from the saved reader position: the window and the steps into it,
    which the same row groups, data.buffer_rows and trainer.batch_size place at the same step.
    The number of processes does not move the window, so it is compared on its own: resuming in
    another number is allowed (docs/data.md) and goes on from the same window over new shares,
    which is said, as those are not the batches of a run never stopped. (A checkpoint written
    before the number was saved is taken as written by as many processes as resume it.)"""
    if saved is None or _place(saved) != _place(computed):
        raise UserError(f"the checkpoint's data reader stood at {saved}, and these data and settings put it at "
                        f"{computed}: resume with the data, data.buffer_rows and trainer.batch_size it was "
                        "written with")
    written, now = saved.get("processes", computed["processes"]), computed["processes"]
    if written != now:
        console.print(f"[yellow]the checkpoint was written by {written} process(es) and {now} resume it: each "
                      f"streams its new share of the row groups from window {computed['window']} on, so the "
                      "batches differ from those of a run never stopped[/]")


def _place(position: dict) -> dict:
    """The reader's place in the windows, without the number of processes, which does not move it."""
    return {key: value for key, value in position.items() if key != "processes"}
