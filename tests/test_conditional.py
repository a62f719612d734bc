"""Conditional G and D (model.conditional=true) and multi-domain pretraining (data=multi)."""

import json

import numpy as np
import pandas as pd
import pytest
import torch

from conftest import TINY, build_model, load_last
from ganxfer import checkpoint, cli
from ganxfer.checkpoint import sampler_weights
from test_training import assert_same_state

CONDITIONAL = [*TINY, "model.conditional=true"]
SHARES = {"a": 0.6, "b": 0.3, "c": 0.1}
# Finetune steps taken so small that every weight stays where it started (within 1e-6).
STANDING_STILL = ["trainer.steps=1", "trainer.log_every=1", "optimizer.lr_g=1e-9", "optimizer.lr_d=1e-9"]


def labelled_csv(path, rows=300, seed=0):
    """A table whose label sits between other columns, with labels at the shares of SHARES."""
    rng = np.random.default_rng(seed)
    kind = rng.choice(list(SHARES), rows, p=list(SHARES.values()))
    pd.DataFrame({"x": rng.normal(size=rows) + (kind == "a") * 3, "kind": kind,
                  "y": rng.integers(0, 50, rows)}).to_csv(path, index=False)
    return path


def fails(tmp_path, capsys, stage, *overrides) -> str:
    """Run a stage in-process that must stop with a user error; return its message."""
    with pytest.raises(SystemExit) as stop:
        cli.main([stage, *overrides, f"hydra.run.dir={tmp_path / 'failed'}"])
    assert stop.value.code != 0
    return capsys.readouterr().err


@pytest.fixture
def table_model(ganxfer, tmp_path):
    data = labelled_csv(tmp_path / "table.csv")
    return ganxfer("pretrain", *CONDITIONAL, "data=csv", f"data.path={data}", "data.label=kind")


def test_sampling_one_label_gives_only_that_label_in_the_data_column_order(ganxfer, table_model, tmp_path):
    for label in ("b", "c"):
        out = tmp_path / f"{label}.csv"
        ganxfer("sample", f"ckpt={table_model}/checkpoints/last.ckpt", "n=40", f"label={label}", f"out={out}")
        rows = pd.read_csv(out)
        assert list(rows.columns) == ["x", "kind", "y"] and len(rows) == 40
        assert set(rows["kind"]) == {label}


def test_per_class_writes_that_many_rows_of_each_label(ganxfer, table_model, tmp_path):
    ganxfer("sample", f"ckpt={table_model}/checkpoints/last.ckpt", "per_class=7", f"out={tmp_path / 's.csv'}")
    assert pd.read_csv(tmp_path / "s.csv")["kind"].value_counts().to_dict() == {"a": 7, "b": 7, "c": 7}


def test_labels_without_label_follow_the_training_proportions(ganxfer, table_model, tmp_path):
    ganxfer("sample", f"ckpt={table_model}/checkpoints/last.ckpt", "n=3000", f"out={tmp_path / 's.csv'}")
    shares = pd.read_csv(tmp_path / "s.csv")["kind"].value_counts(normalize=True)
    condition = load_last(table_model)["schema"]["condition"]
    training = dict(zip(condition["values"], np.array(condition["counts"]) / sum(condition["counts"])))
    assert set(training) == set(shares.index) == set(SHARES)
    for label, share in SHARES.items():
        assert abs(training[label] - share) < 0.06  # the training rows themselves
        assert abs(shares[label] - training[label]) < 0.03  # 3000 draws: sd of a share <= 0.009


def test_an_unknown_label_is_refused_naming_the_known_ones(table_model, tmp_path, capsys):
    message = fails(tmp_path, capsys, "sample", f"ckpt={table_model}/checkpoints/last.ckpt", "label=z")
    assert "'z' is not one the model knows" in message and "a, b, c" in message and "Traceback" not in message


def test_per_class_evaluation_reports_each_label(ganxfer, table_model):
    run = ganxfer("evaluate", f"ckpt={table_model}/checkpoints/last.ckpt", "metrics=[fd]", "per_class=true")
    per_class = json.loads((run / "metrics.json").read_text())["per_class"]
    assert set(per_class) == {"a", "b", "c"}
    assert all(np.isfinite(values["fd"]) and values["fd"] >= 0 for values in per_class.values())


def test_unconditional_models_keep_their_schema_and_refuse_labels(ganxfer, tmp_path, capsys):
    run = ganxfer("pretrain", *TINY)
    assert "condition" not in load_last(run)["schema"]
    assert "unconditional" in fails(tmp_path, capsys, "sample", f"ckpt={run}/checkpoints/last.ckpt", "label=1")


@pytest.mark.parametrize("conditioning", ["projection", "concat"])
@pytest.mark.parametrize("model", ["mlp", "dcgan"])
def test_discriminator_output_depends_on_the_label(model, conditioning):
    settings = {"name": model, "z_dim": 4, "g_hidden": 8, "g_layers": 1, "d_hidden": 8, "d_layers": 1,
                "g_channels": 4, "d_channels": 4, "conditional": True, "conditioning": conditioning}
    torch.manual_seed(0)
    generator, discriminator = build_model(settings, 64, (1, 8, 8), classes=3)
    rows = torch.rand(5, 64) * 2 - 1
    zeros, twos = torch.zeros(5, dtype=torch.long), torch.full((5,), 2)
    assert not torch.allclose(discriminator(rows, zeros), discriminator(rows, twos))
    z = torch.randn(5, generator.z_dim)
    generator.eval()
    assert not torch.allclose(generator(z, zeros), generator(z, twos))


def test_conditional_resume_continues_exactly(ganxfer):
    whole = ganxfer("pretrain", *CONDITIONAL, "trainer.steps=10")
    half = ganxfer("pretrain", *CONDITIONAL, "trainer.steps=5")
    resumed = ganxfer("pretrain", *CONDITIONAL, "trainer.steps=10", f"resume={half}/checkpoints/last.ckpt")
    assert_same_state(load_last(whole)["networks"], load_last(resumed)["networks"])
    assert_same_state(load_last(whole)["rng"], load_last(resumed)["rng"])


def test_multi_domain_pretrain_then_a_new_domain_starts_at_the_mean_embedding(ganxfer, tmp_path):
    sources = [labelled_csv(tmp_path / f"{name}.csv", rows=60, seed=seed) for seed, name in enumerate("ab")]
    target = labelled_csv(tmp_path / "new.csv", rows=60, seed=2)
    multi = ["data=multi", f"data.sources=[{sources[0]},{sources[1]}]"]  # files: tables, not the digits' images
    source_run = ganxfer("pretrain", *TINY, *multi)
    finetuned = load_last(ganxfer("finetune", *TINY, *STANDING_STILL, f"ckpt={source_run}/checkpoints/last.ckpt",
                                  "data=csv", f"data.path={target}"))
    source = load_last(source_run)
    assert source["schema"]["condition"]["values"] == ["a", "b"]
    assert finetuned["schema"]["condition"]["values"] == ["a", "b", "new"]
    g_source, g_target = sampler_weights(source["networks"]), sampler_weights(finetuned["networks"])
    d_source, d_target = source["networks"]["discriminator"], finetuned["networks"]["discriminator"]
    for before, after in ((g_source, g_target), (d_source, d_target)):
        rows = before["embed.weight"]
        assert after["embed.weight"].shape[0] == 3
        torch.testing.assert_close(after["embed.weight"][2], rows.mean(0), atol=1e-6, rtol=0)
        torch.testing.assert_close(after["embed.weight"][:2], rows, atol=1e-6, rtol=0)
        assert not torch.allclose(rows[0], rows[1])  # the mean is not any one source row


def test_new_classes_start_at_the_mean_of_the_sources_one_hot_weights(ganxfer):
    """Digits 0-4 -> 5-9 with a concat D: the new labels' columns of D's first layer start at
    the mean of the source labels' columns, like G's embedding rows."""
    source_run = ganxfer("pretrain", *CONDITIONAL, "model.conditioning=concat")
    finetuned = load_last(ganxfer("finetune", *CONDITIONAL, *STANDING_STILL, f"ckpt={source_run}/checkpoints/last.ckpt"))
    assert finetuned["schema"]["condition"]["values"] == list(range(10))
    weight = "inner.body.0.weight"  # 64 pixel columns, then one column per label
    before, after = load_last(source_run)["networks"]["discriminator"][weight], finetuned["networks"]["discriminator"][weight]
    assert before.shape[1] == 64 + 5 and after.shape[1] == 64 + 10
    for label in range(5, 10):
        torch.testing.assert_close(after[:, 64 + label], before[:, 64:].mean(1), atol=1e-6, rtol=0)
    embedding = sampler_weights(finetuned["networks"])["embed.weight"]
    torch.testing.assert_close(embedding[5:], embedding[:5].mean(0).expand(5, -1), atol=1e-6, rtol=0)


def test_default_multi_runs_on_the_bundled_digits_and_finetunes_onto_the_target(ganxfer, tmp_path):
    source_run = ganxfer("pretrain", *TINY, "data=multi")
    finetuned = ganxfer("finetune", *TINY, f"ckpt={source_run}/checkpoints/last.ckpt")
    assert load_last(source_run)["schema"]["condition"]["values"] == ["digits01", "digits23", "digits4"]
    condition = load_last(finetuned)["schema"]["condition"]
    assert condition["values"][-1] == "digits56789" and condition["counts"] == [0, 0, 0, 100]
    out = tmp_path / "s.csv"
    ganxfer("sample", f"ckpt={finetuned}/checkpoints/last.ckpt", "n=10", f"out={out}")
    assert set(pd.read_csv(out)["domain"]) == {"digits56789"}  # drawn at the target's training shares


def test_strategies_that_cannot_condition_are_refused_and_the_others_run(ganxfer, tmp_path, capsys):
    ckpt = f"ckpt={ganxfer('pretrain', *CONDITIONAL)}/checkpoints/last.ckpt"
    for strategy in ("ewc", "minegan", "scale_shift", "cdc", "dcl"):
        message = fails(tmp_path, capsys, "finetune", *CONDITIONAL, ckpt, f"transfer={strategy}")
        assert f"transfer={strategy} does not work with a conditional model" in message
    for strategy in ("scratch", "freeze_d", "freeze_g", "l2sp", "svd"):
        assert load_last(ganxfer("finetune", *CONDITIONAL, ckpt, f"transfer={strategy}"))["step"] == 6


@pytest.mark.parametrize("conditioning", ["projection", "concat"])
def test_dcgan_conditional_smoke(ganxfer, tmp_path, conditioning):
    trainer = [setting for setting in TINY if not setting.startswith("model.")]
    run = ganxfer("pretrain", *trainer, "model=dcgan", "model.z_dim=8", "model.g_channels=4", "model.d_channels=4",
                  "model.conditional=true", f"model.conditioning={conditioning}")
    out = tmp_path / "s.csv"
    ganxfer("sample", f"ckpt={run}/checkpoints/last.ckpt", "n=12", "label=3", f"out={out}")
    rows = pd.read_csv(out)
    assert rows.shape == (12, 65) and set(rows["label"]) == {3} and (run / "samples.png").exists()
    assert checkpoint.load(run / "checkpoints" / "last.ckpt")["config"]["model"]["conditioning"] == conditioning
