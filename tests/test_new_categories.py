"""A target domain that brings category values the source never saw: the source's schema grows
to hold them, the networks grow with it (new outputs start at their column's mean), and every
strategy fine-tunes without any extra flag."""

import logging

import numpy as np
import pandas as pd
import pytest
import torch

from conftest import TINY, build_model, load_last, settings_of
from ganxfer.data import Schema
from ganxfer.data.prepare import schema_for_target
from ganxfer.transfer import STRATEGIES, categories

from test_data import data_cfg

MLP = {"name": "mlp", "z_dim": 4, "g_hidden": 8, "g_layers": 1, "d_hidden": 8, "d_layers": 1}
G_HEAD, D_INPUT = "net.3.weight", "body.0.weight"  # G's last Linear, D's first Linear


def domains_table(rows=600, seed=0) -> pd.DataFrame:
    """Cars in two domains: `cyl` holds 4, 6 and 8 in domain a and also 5 (30% of rows) in b;
    `colour` gains "green" (20%) in b."""
    rng = np.random.default_rng(seed)
    domain = np.where(np.arange(rows) < rows // 2, "a", "b")
    in_b = domain == "b"
    cyl = np.where(in_b, rng.choice([4, 5, 6, 8], rows, p=[0.3, 0.3, 0.2, 0.2]),
                   rng.choice([4, 6, 8], rows, p=[0.5, 0.3, 0.2]))
    colour = np.where(in_b, rng.choice(["red", "blue", "green"], rows, p=[0.4, 0.4, 0.2]),
                      rng.choice(["red", "blue"], rows))
    return pd.DataFrame({"domain": domain, "cyl": cyl, "colour": colour,
                         "weight": np.round(800 + 150 * cyl + rng.normal(0, 50, rows), 1)})


def schemas():
    table = domains_table()
    source = Schema.fit(table[table.domain == "a"].drop(columns="domain"))
    return source, source.with_new_values(table[table.domain == "b"])


def test_new_categories_are_appended_and_the_known_ones_keep_their_outputs():
    source, target = schemas()
    assert target.extends(source) and not source.extends(target)
    assert target.new_values(source) == {"cyl": [5], "colour": ["green"]}
    cyl = target.columns[0]
    assert cyl.categories == [4, 6, 8, 5]  # source order (most frequent first), then the new value
    back = target.inverse(target.transform(pd.DataFrame({"cyl": [5, 4], "colour": ["green", "red"],
                                                         "weight": [1500.0, 1400.0]})))
    assert back["cyl"].tolist() == [5, 4] and back["colour"].tolist() == ["green", "red"]
    assert back["cyl"].dtype == np.int64


def test_gaps_keep_their_category_when_new_ones_follow_it():
    source = Schema.fit(pd.DataFrame({"city": ["Oslo", None, "Lima", "Oslo"], "x": [1.0, 2.0, 3.0, 4.5]}))
    target = source.with_new_values(pd.DataFrame({"city": ["Rome", "Oslo"], "x": [1.0, 2.0]}))
    assert target.columns[0].categories == ["Oslo", "Lima", None, "Rome"]
    encoded = target.transform(pd.DataFrame({"city": [None, "Rome"], "x": [1.0, 1.0]}))
    assert encoded[:, :4].tolist() == [[0, 0, 1, 0], [0, 0, 0, 1]]


@pytest.mark.parametrize("spectral_norm", [False, True])
def test_new_outputs_start_at_the_mean_of_their_columns_source_outputs(spectral_norm):
    source, target = schemas()
    torch.manual_seed(0)
    source_g, source_d = (n.state_dict() for n in build_model({**MLP, "spectral_norm": spectral_norm}, source.layout))
    torch.manual_seed(1)
    generator, discriminator = build_model({**MLP, "spectral_norm": spectral_norm}, target.layout)
    shared = categories.carry_over(generator, discriminator, source_g, source_d, source, target,
                                   settings_of("transfer", {"load_optimizer": False}))
    d_key = "body.0.parametrizations.weight.original" if spectral_norm else D_INPUT
    g, d = generator.state_dict(), discriminator.state_dict()
    # Source outputs: cyl 4, 6, 8 | colour (2) | weight. Target: cyl 4, 6, 8, 5 | colour (2), green | weight.
    carried = {0: 0, 1: 1, 2: 2, 4: 3, 5: 4, 7: 5}
    for to, start in carried.items():
        assert torch.equal(g[G_HEAD][to], source_g[G_HEAD][start])
        assert torch.equal(g["net.3.bias"][to], source_g["net.3.bias"][start])
        assert torch.equal(d[d_key][:, to], source_d[d_key][:, start])
    for new, column in ((3, [0, 1, 2]), (6, [3, 4])):
        torch.testing.assert_close(g[G_HEAD][new], source_g[G_HEAD][column].mean(0))
        torch.testing.assert_close(g["net.3.bias"][new], source_g["net.3.bias"][column].mean())
        torch.testing.assert_close(d[d_key][:, new], source_d[d_key][:, column].mean(1))
    assert torch.equal(g["net.0.weight"], source_g["net.0.weight"])  # hidden layers unchanged
    assert shared[f"g.{G_HEAD}"][:, 0].tolist() == [1, 1, 1, 0, 1, 1, 0, 1]
    assert shared[f"d.{d_key}"][0].tolist() == [1, 1, 1, 0, 1, 1, 0, 1]


@pytest.fixture(scope="module")
def source_run(tmp_path_factory):
    import sys

    from ganxfer import cli
    folder = tmp_path_factory.mktemp("new_categories")
    domains_table().to_csv(folder / "cars.csv", index=False)
    sys.argv = ["ganxfer"]
    assert cli.main(["pretrain", "data=csv", f"data.path={folder / 'cars.csv'}", "data.label=domain",
                     "data.classes=[a]", *TINY, f"hydra.run.dir={folder / 'pretrain'}"]) == 0
    return folder


def target(source_run) -> list[str]:
    return ["data=csv", f"data.path={source_run / 'cars.csv'}", "data.label=domain", "data.classes=[b]",
            f"ckpt={source_run / 'pretrain' / 'checkpoints' / 'last.ckpt'}"]


@pytest.mark.parametrize("strategy", sorted(STRATEGIES))
def test_every_strategy_finetunes_onto_new_categories_without_a_flag(ganxfer, source_run, strategy, capsys):
    run = ganxfer("finetune", *target(source_run), f"transfer={strategy}", *TINY)
    said = capsys.readouterr().out
    assert said.count("values the source model never saw ('cyl': 5; 'colour': green)") == 1
    schema = Schema.from_dict(load_last(run)["schema"])
    assert schema.columns[0].categories == [4, 6, 8, 5]
    if strategy == "ewc":  # nothing holds the new outputs in place
        fisher = load_last(run)["transfer"][f"fisher.{G_HEAD}"]
        assert fisher[[3, 6]].abs().sum() == 0 and fisher[[0, 1, 2]].abs().sum() > 0


def test_samples_hold_the_new_values_at_about_their_target_rates(ganxfer, source_run):
    run = ganxfer("finetune", *target(source_run), "transfer=full", "trainer.steps=400", "trainer.batch_size=64",
                  "trainer.log_every=100", "trainer.ckpt_every=400", "model.z_dim=8", "seed=0")
    ganxfer("sample", f"ckpt={run / 'checkpoints' / 'last.ckpt'}", "n=2000", "out=samples.csv", "seed=0")
    samples = pd.read_csv(run.parent / "samples.csv")
    assert (samples["cyl"] == 5).mean() == pytest.approx(0.3, abs=0.12)
    assert (samples["colour"] == "green").mean() == pytest.approx(0.2, abs=0.1)


def test_a_new_level_read_as_float32_is_named_as_the_file_writes_it(caplog):
    """0.144, not 0.14399999380111694: the digits that widening float32 to float64 adds."""
    rng = np.random.default_rng(0)
    levels = np.array([0.0, 0.5, 1.0], dtype=np.float32)
    source = Schema.fit(pd.DataFrame({"limit": rng.choice(levels, 300), "x": rng.normal(size=300)}))
    target = pd.DataFrame({"limit": np.array([0.0, 0.144, 1.0], dtype=np.float32), "x": [0.1, 0.2, 0.3]})
    with caplog.at_level(logging.INFO, logger="ganxfer.data.prepare"):
        schema_for_target(source, target, data_cfg())
    assert "values the source model never saw ('limit': 0.144)" in caplog.text
