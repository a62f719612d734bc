"""Parquet files and shard folders: read into memory, or streamed a window of row groups at a time."""

import threading

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from omegaconf import OmegaConf

from conftest import TINY, assert_user_error, load_last, mixed_table, settings_of, whole_and_resumed
from ganxfer.data import Schema, StreamOptions, load_table, prepare
from ganxfer.data.prepare import fit_schema
from ganxfer.data import stream
from ganxfer.data.stream import check_same_position, row_groups
from ganxfer.data.tables import keep_chosen, multi_domain_table
from ganxfer.errors import UserError

GROUP_ROWS = 50


def write_shards(folder, table: pd.DataFrame, shards: int = 4) -> None:
    """`table` as `shards` Parquet files of row groups of GROUP_ROWS rows."""
    folder.mkdir()
    for number, part in enumerate(np.array_split(np.arange(len(table)), shards)):
        pq.write_table(pa.Table.from_pandas(table.iloc[part], preserve_index=False),
                       folder / f"part{number}.parquet", row_group_size=GROUP_ROWS)


def data_config(path, **settings):
    """conf/data/csv.yaml as data=csv composes it, with these settings."""
    csv = OmegaConf.load("conf/data/csv.yaml")
    csv.path = str(path)
    del csv["defaults"]
    return settings_of("data", OmegaConf.merge(OmegaConf.load("conf/data/_table.yaml"), csv, settings))


def training_rows(folder, groups: list[int]) -> np.ndarray:
    """The positions in the whole table of the rows of row groups `groups`."""
    starts = np.cumsum([0] + [group.rows for group in row_groups(folder)])
    return np.concatenate([np.arange(starts[number], starts[number + 1]) for number in groups])


@pytest.fixture
def shards(tmp_path):
    table = mixed_table(0, rows=800)
    write_shards(tmp_path / "shards", table)
    return tmp_path / "shards", table


def test_a_parquet_file_and_a_shard_folder_read_as_their_csv_does(tmp_path, shards):
    folder, table = shards
    table.to_csv(tmp_path / "same.csv", index=False)
    pq.write_table(pa.Table.from_pandas(table, preserve_index=False), tmp_path / "same.parquet")
    from_csv = load_table(data_config(tmp_path / "same.csv"))
    for path in (folder, tmp_path / "same.parquet"):
        read = load_table(data_config(path))
        pd.testing.assert_frame_equal(read.astype(object).fillna(-1), from_csv.astype(object).fillna(-1), check_dtype=False)
        assert read["visits"].dtype.kind in "iuf" and read["member"].dtype == bool
        assert pd.api.types.is_string_dtype(read["shop"]) and read["shop"].dtype == from_csv["shop"].dtype


def test_a_folder_streams_with_the_schema_of_the_same_training_rows_in_memory(shards):
    folder, table = shards
    streamed = prepare(data_config(folder, stream=True, buffer_rows=100))
    trained = training_rows(folder, streamed.rows.share)
    in_memory = load_table(data_config(folder, stream=False)).loc[trained]
    assert streamed.schema.to_dict() == fit_schema(in_memory, in_memory, data_config(folder)).to_dict()
    assert len(streamed.rows) == len(trained) < len(table)
    held_out = set(streamed.holdout.index)
    assert held_out and not held_out & set(trained)


def as_two_processes(cfg, monkeypatch) -> tuple[list, list[set]]:
    """prepare(cfg) as two torchrun processes run it: in two threads whose `combine` passes each
    one's part to both, as distributed.gathered does. Returns their results and the row groups
    each one read, for any purpose."""
    barrier, parts, results, read = threading.Barrier(2), [None, None], [None, None], [set(), set()]
    reader = stream.read_groups
    ranks = {}

    def recorded(groups, numbers, columns=None):
        read[ranks[threading.get_ident()]].update(numbers)
        return reader(groups, numbers, columns)

    def process(rank: int) -> None:
        ranks[threading.get_ident()] = rank

        def combine(part):
            parts[rank] = part
            barrier.wait()
            both = list(parts)
            barrier.wait()
            return both

        results[rank] = prepare(cfg, streaming=StreamOptions(rank=rank, processes=2, combine=combine))

    monkeypatch.setattr(stream, "read_groups", recorded)
    threads = [threading.Thread(target=process, args=(rank,)) for rank in (0, 1)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results, read


def test_numbers_keep_the_range_of_every_training_row_group_where_the_sample_has_fewer(shards, monkeypatch):
    folder, _ = shards
    monkeypatch.setattr(stream, "SCHEMA_SAMPLE_ROWS", GROUP_ROWS)  # the schema sees one row group
    cfg = data_config(folder, stream=True, scaling="minmax")
    prepared = prepare(cfg)
    training = load_table(data_config(folder, stream=False)).loc[training_rows(folder, prepared.rows.share)]
    price = next(column for column in prepared.schema.columns if column.name == "price")
    assert (price.low, price.high) == (float(training["price"].min()), float(training["price"].max()))
    assert (price.scaler.low, price.scaler.high) == (price.low, price.high)
    assert prepared.positions.size == GROUP_ROWS  # the sample was one row group: its range was narrower


def test_each_footer_is_read_once_from_the_choice_to_stream_to_the_last_window(shards, monkeypatch):
    folder, _ = shards
    monkeypatch.setattr(stream, "STREAM_ABOVE_BYTES", 0)  # data.stream=auto streams these
    footers_read, parquet_file = [], pq.ParquetFile

    def opened(source, *args, metadata=None, **kwargs):
        if metadata is None:  # pyarrow parses the footer itself
            footers_read.append(str(source))
        return parquet_file(source, *args, metadata=metadata, **kwargs)

    monkeypatch.setattr(pq, "ParquetFile", opened)
    with prepare(data_config(folder, stream="auto", buffer_rows=100, scaling="minmax")) as prepared:
        for window in range(prepared.rows.windows_per_epoch):
            prepared.rows.for_step(window * prepared.rows.steps_per_window + 1)
    assert sorted(footers_read) == sorted(str(shard) for shard in folder.iterdir())


def test_two_processes_read_disjoint_row_groups_and_hold_out_the_same_ones(shards, monkeypatch):
    folder, _ = shards
    cfg = data_config(folder, stream=True, buffer_rows=100)
    alone = prepare(cfg)
    ranks, read = as_two_processes(cfg, monkeypatch)
    trained = [{group for window in range(rows.windows_per_epoch * 2) for group in rows.groups_of(window)}
               for rows in (part.rows for part in ranks)]
    assert trained[0] and trained[1] and not trained[0] & trained[1]
    assert trained[0] | trained[1] == set(alone.rows.share)
    assert read[0] and read[1] and not read[0] & read[1]  # the schema's sample and the held-out rows
    for part in ranks:
        assert part.holdout_groups == alone.holdout_groups
        pd.testing.assert_frame_equal(part.holdout, alone.holdout)
        assert part.schema.to_dict() == alone.schema.to_dict()
        assert part.rows.steps_per_window == alone.rows.steps_per_window
        assert list(part.positions) == list(alone.positions)


def test_the_saved_reader_position_tells_a_resume_in_another_number_of_processes(shards, monkeypatch, capsys):
    folder, _ = shards
    cfg = data_config(folder, stream=True, buffer_rows=100)
    alone = prepare(cfg).rows
    ranks, _ = as_two_processes(cfg, monkeypatch)
    written, resumed = alone.position(7), ranks[0].rows.position(7)
    assert (written["processes"], resumed["processes"]) == (1, 2)
    assert {**written, "processes": 2} == resumed  # the same window: the number alone tells them apart
    capsys.readouterr()
    check_same_position(written, resumed)  # allowed (docs/data.md), and said
    assert "written by 1 process(es) and 2 resume it" in " ".join(capsys.readouterr().out.split())
    check_same_position(written, alone.position(7))
    older = {key: value for key, value in written.items() if key != "processes"}  # saved before the number was
    check_same_position(older, resumed)
    assert capsys.readouterr().out == ""
    with pytest.raises(UserError, match="data.buffer_rows and trainer.batch_size"):
        check_same_position({**written, "steps_per_window": written["steps_per_window"] + 1}, resumed)


def test_each_window_is_read_ahead_and_walks_every_group_once_per_pass(shards):
    folder, _ = shards
    rows = prepare(data_config(folder, stream=True, buffer_rows=100), streaming=StreamOptions(batch_size=10)).rows
    assert rows.window_groups == 2 and rows.steps_per_window == 10
    windows = range(rows.windows_per_epoch)
    assert sorted(group for window in windows for group in rows.groups_of(window)) == sorted(rows.share)
    first = rows.for_step(1)
    assert rows.for_step(10) is first and rows._next[0] == 1  # the next window is being read meanwhile
    assert rows.for_step(11).shape == (100, first.shape[1])
    rows.close()


def test_a_streamed_run_resumes_exactly_from_its_saved_reader_position(shards, ganxfer):
    folder, _ = shards
    settings = ("data=csv", f"data.path={folder}", "data.stream=true", "data.buffer_rows=50", *TINY)
    # Windows of one row group serve 3 steps of 16 rows: the run stops and resumes mid-window.
    whole, resumed = whole_and_resumed(ganxfer, "pretrain", *settings, steps=14)
    assert resumed["reader"] == whole["reader"] == {"window": 4, "steps_into_window": 2, "steps_per_window": 3,
                                                    "window_groups": 1, "processes": 1}
    assert list(whole["split"]["holdout_groups"]) == list(resumed["split"]["holdout_groups"])


def test_a_refused_resume_ends_the_thread_that_read_ahead(shards, ganxfer, ganxfer_outcome):
    folder, _ = shards
    # Moment matching reads the first window (and so starts reading the next) before the resume is checked.
    settings = ("data=csv", f"data.path={folder}", "data.stream=true", "data.buffer_rows=50",
                "loss.moment_matching=1", *TINY)
    half = ganxfer("pretrain", *settings, "trainer.steps=3")
    before = set(threading.enumerate())
    # Another batch size puts the reader elsewhere at the saved step: the resume is refused.
    result = ganxfer_outcome(folder.parent, "pretrain", *settings, "trainer.batch_size=8",
                             f"resume={half}/checkpoints/last.ckpt")
    assert_user_error(result, "data reader")
    assert [thread.name for thread in set(threading.enumerate()) - before if thread.name.startswith("read-ahead")] == []


def test_parquet_in_and_out_keeps_dtypes_and_categories(tmp_path, ganxfer):
    table = pd.DataFrame({"price": np.random.default_rng(0).gamma(2.0, 10.0, 300).astype(np.float32),
                          "visits": np.random.default_rng(1).integers(0, 400, 300),
                          "shop": np.random.default_rng(2).choice(["north", "south", "web"], 300),
                          "member": np.random.default_rng(3).random(300) < 0.3})
    pq.write_table(pa.Table.from_pandas(table, preserve_index=False), tmp_path / "in.parquet")
    trained = ganxfer("pretrain", "data=csv", f"data.path={tmp_path / 'in.parquet'}", *TINY)
    ganxfer("sample", f"ckpt={trained}/checkpoints/last.ckpt", "n=250", f"out={tmp_path / 'out.parquet'}")
    written = pq.read_table(tmp_path / "out.parquet")
    assert written.num_rows == 250 and written.schema.names == list(table.columns)
    assert written.schema.types == pa.Table.from_pandas(table, preserve_index=False).schema.types
    assert set(written.column("shop").to_pylist()) <= {"north", "south", "web"}


def test_decimals_are_written_in_the_width_the_input_held(tmp_path, ganxfer):
    """The run reads float64 decimals as float32 to save memory; its samples are float64 again."""
    rng = np.random.default_rng(0)
    table = pd.DataFrame({"wide": rng.normal(size=200), "narrow": rng.normal(size=200).astype(np.float32)})
    pq.write_table(pa.Table.from_pandas(table, preserve_index=False), tmp_path / "in.parquet")
    table[["wide"]].to_csv(tmp_path / "in.csv", index=False)
    for data, widths in (("in.parquet", {"wide": pa.float64(), "narrow": pa.float32()}), ("in.csv", {"wide": pa.float64()})):
        trained = ganxfer("pretrain", "data=csv", f"data.path={tmp_path / data}", *TINY)
        out = tmp_path / f"from_{data}"
        ganxfer("sample", f"ckpt={trained}/checkpoints/last.ckpt", "n=50", f"out={out.with_suffix('.parquet')}")
        written = pq.read_schema(out.with_suffix(".parquet"))
        assert {name: written.field(name).type for name in widths} == widths, data
    # A checkpoint from before the schema kept the file's width writes what the run read, as it did.
    saved = load_last(trained)["schema"]
    older = {**saved, "columns": [{key: value for key, value in column.items() if key != "file_dtype"}
                                  for column in saved["columns"]]}
    assert Schema.from_dict(older).inverse(np.zeros((3, 1), np.float32))["wide"].dtype == np.float32
    assert Schema.from_dict(saved).inverse(np.zeros((3, 1), np.float32))["wide"].dtype == np.float64


def corrupt(folder):
    (folder / "part1.parquet").write_bytes((folder / "part1.parquet").read_bytes()[:-100])


def other_types(folder):
    pq.write_table(pa.table({"price": ["cheap"], "visits": [1], "shop": ["web"], "member": [True]}),
                   folder / "part9.parquet")


def other_columns(folder):
    pq.write_table(pa.table({"price": [1.0], "shop": ["web"], "member": [True]}), folder / "part9.parquet")


def emptied(folder):
    for file in folder.iterdir():
        file.unlink()


@pytest.mark.parametrize("stream", ["false", "true"])
@pytest.mark.parametrize("spoil, phrases", [
    (corrupt, ("part1.parquet", "not a readable Parquet file")),
    (other_types, ("part9.parquet", "other column types", "price (text, not numbers)")),
    (other_columns, ("part9.parquet", "other columns", "missing visits")),
    (emptied, ("holding no .parquet or .csv shards",)),
])
def test_bad_parquet_data_are_named(shards, ganxfer_outcome, stream, spoil, phrases):
    folder, _ = shards
    spoil(folder)
    result = ganxfer_outcome(folder.parent, "pretrain", "data=csv", f"data.path={folder}", f"data.stream={stream}",
                             *TINY)
    assert_user_error(result, *phrases)


@pytest.mark.parametrize("setting, phrase", [("data.shots=10", "data.shots"), ("meta=reptile", "meta=reptile")])
def test_streaming_refuses_what_needs_the_whole_table(shards, ganxfer_outcome, setting, phrase):
    folder, _ = shards
    result = ganxfer_outcome(folder.parent, "pretrain", "data=csv", f"data.path={folder}", "data.stream=true",
                             setting, *TINY)
    assert_user_error(result, phrase, "data.stream=false")


@pytest.mark.parametrize("stream", ["false", "true"])
def test_data_with_nothing_to_learn_are_refused_alike_in_memory_and_streamed(tmp_path, ganxfer_outcome, stream):
    write_shards(tmp_path / "shards", pd.DataFrame({"size": [3.0] * 200, "shop": ["web"] * 200}))
    result = ganxfer_outcome(tmp_path, "pretrain", "data=csv", f"data.path={tmp_path / 'shards'}",
                             f"data.stream={stream}", *TINY)
    assert_user_error(result, "every column of the data holds a single value (size, shop)", "columns vary")


def test_a_window_may_hold_only_gaps_of_a_column_that_has_values_elsewhere(tmp_path):
    table = mixed_table(0, rows=400)
    table.loc[:GROUP_ROWS - 1, "price"] = np.nan  # the first row group has no price at all
    write_shards(tmp_path / "shards", table)
    with prepare(data_config(tmp_path / "shards", stream=True, buffer_rows=GROUP_ROWS)) as prepared:
        rows = prepared.rows
        windows = [rows.for_step(window * rows.steps_per_window + 1) for window in range(rows.windows_per_epoch)]
    assert sum(len(window) for window in windows) == len(rows)
    # The whole table (in memory), or the sample a streamed schema is fitted on, may not.
    table["price"] = np.nan
    with pytest.raises(UserError, match="no values at all"):
        keep_chosen(table, data_config(tmp_path / "shards"))


def test_parquet_files_are_sources_of_several_domains_too(tmp_path):
    table = mixed_table(0, rows=60)
    pq.write_table(pa.Table.from_pandas(table, preserve_index=False), tmp_path / "north.parquet")
    table.to_csv(tmp_path / "south.csv", index=False)
    both = multi_domain_table([tmp_path / "north.parquet", tmp_path / "south.csv"], None)
    assert both["domain"].value_counts().to_dict() == {"north": 60, "south": 60}
