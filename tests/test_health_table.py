"""The bundled tabular domain pair (data=health -> data=health_target), and a finetune whose
weights owe nothing to the rows it is scored on."""

import numpy as np
import pandas as pd
import torch
from hydra import compose, initialize_config_module

from conftest import TINY, load_last, mixed_table, settings_of
from ganxfer.data import prepare
from ganxfer.data import load_table, split_table


def data_config(name: str, *overrides: str):
    with initialize_config_module("ganxfer.conf", version_base="1.3"):
        return settings_of("data", compose("config", overrides=[f"data={name}", *overrides]).data)


def test_the_health_pair_is_two_domains_of_one_real_table_with_mixed_columns():
    source, target = load_table(data_config("health")), load_table(data_config("health_target"))
    assert len(source) >= 200
    assert set(source["site"]).isdisjoint(target["site"])
    held_out = split_table(target, data_config("health_target")).holdout
    assert len(held_out) >= 200
    prepared = prepare(data_config("health_target", "data.shots=200"))
    assert len(prepared.rows) == 200
    kinds = {column.name: column.kind for column in prepared.schema.columns}
    assert {"categorical", "integer", "continuous"} <= set(kinds.values()), kinds
    assert source.drop(columns="site").isna().any(axis=None)  # gaps, modelled as they come


def test_the_domains_differ_where_the_sites_did():
    source, target = load_table(data_config("health")), load_table(data_config("health_target"))
    assert target["black"].mean() > source["black"].mean() + 0.3
    assert target["income"].median() < source["income"].median()


def test_pretrain_on_the_source_sites_then_finetune_on_ten_rows_of_the_target(ganxfer):
    source = ganxfer("pretrain", "data=health", *TINY)
    target = ganxfer("finetune", "data=health_target", "data.shots=10", f"ckpt={source}/checkpoints/last.ckpt",
                     *TINY)
    assert load_last(target)["plan"]["stage"] == "finetune"


def test_a_finetune_given_no_data_takes_the_target_of_its_sources_data_and_says_so(ganxfer, capsys):
    source = ganxfer("pretrain", "data=health", *TINY)
    target = ganxfer("finetune", "data.shots=10", f"ckpt={source}/checkpoints/last.ckpt", *TINY)
    assert load_last(target)["config"]["data"]["classes"] == ["Georgetown County"]  # data=health_target's
    assert "data=health_target" in capsys.readouterr().err


def _with_other_held_out_rows(table: pd.DataFrame, data_cfg) -> pd.DataFrame:
    """The same table with every held-out row changed and every training row kept."""
    held_out = split_table(table, data_cfg).holdout.index
    other = table.copy()
    other.loc[held_out, "price"] = other.loc[held_out, "price"] * 3 + 1
    other.loc[held_out, "shop"] = "web"
    return other


def test_the_weights_a_finetune_ends_with_do_not_depend_on_the_held_out_rows(ganxfer, tmp_path):
    """Evaluation during training, the best checkpoint and the final metrics read the held-out
    rows; the training must not: same training rows, other held-out rows, bit-identical weights."""
    mixed_table(0).to_csv(tmp_path / "source.csv", index=False)
    source = ganxfer("pretrain", "data=csv", f"data.path={tmp_path / 'source.csv'}", *TINY)
    target = mixed_table(1, rows=80)
    split = settings_of("data", {"name": "csv", "label": None, "holdout": 0.25, "split_seed": 0, "shots": 10})
    target.to_csv(tmp_path / "a.csv", index=False)
    _with_other_held_out_rows(target, split).to_csv(tmp_path / "b.csv", index=False)
    runs = [ganxfer("finetune", "data=csv", f"data.path={tmp_path / name}", "data.holdout=0.25", "data.shots=10",
                    f"ckpt={source}/checkpoints/last.ckpt", "trainer.eval_every=2", *TINY)
            for name in ("a.csv", "b.csv")]
    first, second = (load_last(run) for run in runs)
    logs = [pd.read_csv(run / "train_log.csv") for run in runs]
    assert not np.allclose(logs[0]["fd"].dropna(), logs[1]["fd"].dropna())  # they were scored on other rows
    for network in ("generator", "discriminator", "ema"):
        for key, value in first["networks"][network].items():
            assert torch.equal(value, second["networks"][network][key]), (network, key)
