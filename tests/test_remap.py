"""transfer.remap=true: fine-tuning on data whose columns differ from the source's. Shared
outputs keep the source's weights bit for bit, new ones start fresh, and without remap the run
stops naming the columns that differ."""

import sys
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch

from conftest import TINY, build_model, load_last, run_in_process, settings_of
from ganxfer import cli
from ganxfer.data import Schema
from ganxfer.data.prepare import differs_from_source, schema_for_target
from ganxfer.errors import UserError
from ganxfer.transfer import get
from ganxfer.transfer.remap import carry_over, check_strategy
from test_data import data_cfg

MLP = {"name": "mlp", "z_dim": 4, "g_hidden": 8, "g_layers": 1, "d_hidden": 8, "d_layers": 1}
G_HEAD, D_INPUT = "net.3.weight", "body.0.weight"  # G's last Linear, D's first Linear


def source_table(rows=200, seed=0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"a": rng.normal(size=rows),
                         "city": rng.choice(["Oslo", "Lima", "Pune"], rows, p=[0.5, 0.3, 0.2]),
                         "b": rng.normal(size=rows)})


def target_table(rows=200, seed=1) -> pd.DataFrame:
    """`city` shared with a new category (Rome) and one fewer (Pune), `c` new, `b` missing, `a`
    shared; in another column order."""
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"city": rng.choice(["Oslo", "Rome", "Lima"], rows, p=[0.5, 0.3, 0.2]),
                         "c": rng.normal(size=rows), "a": rng.normal(size=rows)})


# Outputs, categories most frequent first. Source: a, Oslo, Lima, Pune, b.
# Target: Oslo, Rome, Lima, c, a. Carried over: target <- source.
CARRIED = {0: 1, 2: 2, 4: 0}
NEW = [1, 3]  # Rome, c


def networks(schema: Schema, seed: int, spectral_norm: bool = False):
    torch.manual_seed(seed)
    return build_model({**MLP, "spectral_norm": spectral_norm}, schema.layout)


def d_input_key(spectral_norm: bool) -> str:
    return "body.0.parametrizations.weight.original" if spectral_norm else D_INPUT


@pytest.mark.parametrize("spectral_norm", [False, True])
def test_shared_outputs_are_carried_over_bit_for_bit_and_new_ones_start_fresh(spectral_norm):
    source, target = Schema.fit(source_table()), Schema.fit(target_table())
    assert target.outputs[1] == ("city", "category", "Rome") and target.outputs[3] == ("c", "minmax")
    source_g, source_d = (network.state_dict() for network in networks(source, 0, spectral_norm))
    generator, discriminator = networks(target, 1, spectral_norm)
    fresh_g = {key: value.clone() for key, value in generator.state_dict().items()}
    fresh_d = {key: value.clone() for key, value in discriminator.state_dict().items()}
    shared = carry_over(generator, discriminator, source_g, source_d, source, target)

    g, d, d_key = generator.state_dict(), discriminator.state_dict(), d_input_key(spectral_norm)
    for to, start in CARRIED.items():
        assert torch.equal(g[G_HEAD][to], source_g[G_HEAD][start])
        assert torch.equal(g["net.3.bias"][to], source_g["net.3.bias"][start])
        assert torch.equal(d[d_key][:, to], source_d[d_key][:, start])
    for new in NEW:
        assert torch.equal(g[G_HEAD][new], fresh_g[G_HEAD][new])
        assert torch.equal(d[d_key][:, new], fresh_d[d_key][:, new])
        assert not any(torch.equal(g[G_HEAD][new], row) for row in source_g[G_HEAD])
    # The hidden layers are the source's, unchanged.
    for key in ("net.0.weight", "net.0.bias", "body.0.bias", "head.bias"):
        network, source_state = (g, source_g) if key.startswith("net") else (d, source_d)
        assert torch.equal(network[key], source_state[key])
    assert shared[f"g.{G_HEAD}"][:, 0].tolist() == [1, 0, 1, 0, 1]
    assert shared[f"d.{d_key}"][0].tolist() == [1, 0, 1, 0, 1]


def test_l2sp_pulls_only_the_carried_over_weights_toward_the_source():
    source, target = Schema.fit(source_table()), Schema.fit(target_table())
    generator, discriminator = networks(target, 1)
    strategy = get(settings_of("transfer", {"name": "l2sp", "lambda_g": 1.0, "lambda_d": 1.0}))
    strategy.shared = carry_over(generator, discriminator, *(n.state_dict() for n in networks(source, 0)),
                                 source, target)
    objective = SimpleNamespace(g_penalties=[], d_penalties=[])
    strategy.regularise(objective, generator, discriminator, batch_size=8)
    g_penalty = objective.g_penalties[0]
    head = generator.net[3].weight
    with torch.no_grad():
        head[NEW] += 5.0  # new outputs have no source value to return to
    assert g_penalty().item() == 0
    with torch.no_grad():
        head[list(CARRIED)] += 0.5
    assert g_penalty().item() == pytest.approx(0.25)  # the mean over carried-over weights


def test_strategies_that_need_the_whole_source_model_are_refused():
    ewc = settings_of("transfer", {"name": "ewc", "load_optimizer": False})
    with pytest.raises(UserError, match="transfer=ewc.*l2sp"):
        check_strategy(get(ewc), ewc)
    full = settings_of("transfer", {"name": "full", "load_optimizer": True})
    with pytest.raises(UserError, match="load_optimizer"):
        check_strategy(get(full), full)


def test_images_of_another_shape_are_not_remapped():
    pixels = np.random.default_rng(0).integers(0, 256, (40, 16))
    source = Schema.fit_image(pd.DataFrame(pixels, columns=[f"p{i}" for i in range(16)]), [4, 4])
    target = pd.DataFrame(pixels[:, :9], columns=[f"p{i}" for i in range(9)])
    assert not differs_from_source(source, target, data_cfg())
    with pytest.raises(UserError, match="Images keep their shape"):
        schema_for_target(source, target, data_cfg(shape=[3, 3]))


@pytest.fixture(scope="module")
def csv_files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("remap")
    source_table().to_csv(folder / "source.csv", index=False)
    target_table(seed=2).to_csv(folder / "target.csv", index=False)
    assert run_in_process("pretrain", "data=csv", f"data.path={folder / 'source.csv'}", *TINY,
                     f"hydra.run.dir={folder / 'pretrain'}") == 0
    return SimpleNamespace(source=folder / "pretrain" / "checkpoints" / "last.ckpt", target=folder / "target.csv")


def test_without_remap_the_run_stops_naming_the_differing_columns(csv_files, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(sys, "argv", ["ganxfer"])
    with pytest.raises(SystemExit) as stop:
        cli.main(["finetune", "data=csv", f"data.path={csv_files.target}", f"ckpt={csv_files.source}", *TINY,
                  f"hydra.run.dir={tmp_path}"])
    error = capsys.readouterr().err
    assert stop.value.code != 0 and "Traceback" not in error
    assert "missing from the target: b; new in the target: c" in error and "transfer.remap=true" in error


@pytest.mark.parametrize("strategy", ["full", "scratch", "l2sp"])
def test_finetune_with_remap_samples_the_target_columns(ganxfer, csv_files, strategy, capsys):
    run = ganxfer("finetune", "data=csv", f"data.path={csv_files.target}", f"ckpt={csv_files.source}",
                  "transfer.remap=true", f"transfer={strategy}", *TINY)
    assert "missing from the target" in capsys.readouterr().out  # the column table
    state = load_last(run)
    assert [name for name, *_ in Schema.from_dict(state["schema"]).outputs] == ["city"] * 3 + ["c", "a"]
    if strategy == "l2sp":
        assert state["transfer"][f"shared.g.{G_HEAD}"][:, 0].tolist() == [1, 0, 1, 0, 1]
    ganxfer("sample", f"ckpt={run / 'checkpoints' / 'last.ckpt'}", "n=300", "out=samples.csv")
    samples = pd.read_csv(run.parent / "samples.csv")
    assert list(samples.columns) == ["city", "c", "a"]
    assert set(samples["city"]) <= {"Oslo", "Rome", "Lima"} and len(samples) == 300


def test_a_streamed_finetune_with_remap_trains_on_the_target_columns(ganxfer, csv_files, tmp_path, capsys):
    shards = tmp_path / "target.parquet"
    pq.write_table(pa.Table.from_pandas(target_table(seed=2), preserve_index=False), shards, row_group_size=50)
    run = ganxfer("finetune", "data=csv", f"data.path={shards}", "data.stream=true", f"ckpt={csv_files.source}",
                  "transfer.remap=true", *TINY)
    assert "missing from the target" in capsys.readouterr().out  # the column table of the remap
    state = load_last(run)
    assert sorted({name for name, *_ in Schema.from_dict(state["schema"]).outputs}) == ["a", "c", "city"]
    assert "reader" in state  # streamed, not read into memory
