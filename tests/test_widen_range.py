"""A finetune target whose numbers reach past the source model's range (data.range=widen): the
source's min-max ranges are widened to cover the target, the networks' weights are mapped to the
wider scaling (D exactly, G as closely as tanh allows), and samples can reach the target's values."""

import numpy as np
import pandas as pd
import pytest
import torch

from conftest import TINY, build_model, load_last, run_in_process, settings_of, whole_and_resumed
from ganxfer import models
from ganxfer.checkpoint import sampler_weights
from ganxfer.data import FitOptions, Schema
from ganxfer.data.prepare import schema_for_target
from ganxfer.transfer import ranges

from test_data import data_cfg

MLP = {"name": "mlp", "z_dim": 4, "g_hidden": 16, "g_layers": 1, "d_hidden": 16, "d_layers": 1}
SHIFTED = ("age", "income")


def people(rows: int, age: float, income_scale: float, seed: int) -> pd.DataFrame:
    """Ages, a skewed income, a plan: the target's people are older and richer than the source's."""
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"age": rng.normal(age, 6, rows).round(1),
                         "income": (rng.gamma(2.0, 1000.0, rows) * income_scale).round(0),
                         "plan": rng.choice(["basic", "full"], rows)})


def source_and_target() -> tuple[pd.DataFrame, pd.DataFrame]:
    return people(400, 40, 1.0, 0), people(200, 65, 3.0, 1)


def widened_pair() -> tuple[Schema, Schema, pd.DataFrame]:
    source_table, target = source_and_target()
    source = Schema.fit(source_table)
    return source, schema_for_target(source, target, data_cfg(range="widen")), target


def test_the_widened_schema_covers_the_target_and_keeps_the_source_ends():
    source, widened, target = widened_pair()
    assert widened.outputs == source.outputs  # the same networks fit it
    for name in SHIFTED:
        before, after = (schema.columns[schema.names.index(name)] for schema in (source, widened))
        assert target[name].max() > before.high  # the target does reach past the source
        assert after.low == min(before.low, target[name].min()) and after.high == target[name].max()
        assert (after.scaler.low, after.scaler.high) == (after.low, after.high)
        back = widened.inverse(widened.transform(target))[name]
        np.testing.assert_allclose(back, target[name], rtol=1e-5)  # no longer clamped
    assert schema_for_target(source, target, data_cfg(range="source")) is source


def test_a_finetune_keeps_the_source_range_unless_told_to_widen_it():
    """The default is data.range=source: widening lost on one of the two tuning pairs
    (docs/transfer.md, "Target numbers beyond the source's range")."""
    source_table, target = source_and_target()
    source = Schema.fit(source_table)
    defaults = data_cfg()  # without data.range: filled from conf/data/_table.yaml
    assert defaults.range == "source"
    assert schema_for_target(source, target, defaults) is source


def test_only_min_max_scalings_are_widened():
    source_table, target = source_and_target()
    standard = Schema.fit(source_table, options=FitOptions(scaling="standard"))
    assert schema_for_target(standard, target, data_cfg(range="widen", scaling="standard")) is standard


def test_data_refit_is_the_same_whatever_data_range_says():
    source_table, target = source_and_target()
    source = Schema.fit(source_table)
    refitted = [schema_for_target(source, target, data_cfg(refit=True, range=choice)).to_dict()
                for choice in ("source", "widen")]
    assert refitted[0] == refitted[1]
    income = refitted[0]["columns"][source.names.index("income")]
    assert income["low"] == target["income"].min()  # fitted on the target: not the source's low end


@pytest.mark.parametrize("stage", ["pretrain", "finetune"])
def test_an_unknown_data_range_is_refused_by_every_stage_that_reads_a_table(stage, ganxfer_outcome, tmp_path):
    finished = ganxfer_outcome(tmp_path, stage, "data=health", "data.range=wider", *TINY)
    assert finished.returncode == 2
    assert "data.range='wider' must be source or widen" in finished.stderr and "Traceback" not in finished.stderr


def mapped_discriminators(source: Schema, widened: Schema, model: dict, classes: int):
    """A source D with random weights, and a D for `widened` started from it."""
    torch.manual_seed(0)
    generator, discriminator = build_model(model, source.layout, None, classes)
    torch.manual_seed(1)
    wide_generator, wide_discriminator = build_model(model, widened.layout, None, classes)
    _, d_state = ranges.carry_over(wide_generator, wide_discriminator, generator.state_dict(),
                                   discriminator.state_dict(), source, widened)
    wide_discriminator.load_state_dict(d_state)
    return discriminator, wide_discriminator


@pytest.mark.parametrize("conditioning", [None, "concat", "projection"])
def test_the_discriminator_gives_every_row_the_logit_it_gave_before_widening(conditioning):
    source, widened, target = widened_pair()
    model = MLP if conditioning is None else {**MLP, "conditional": True, "conditioning": conditioning}
    classes = 0 if conditioning is None else 3
    discriminator, wide_discriminator = mapped_discriminators(source, widened, model, classes)
    in_range = source.inverse(source.transform(target))  # the target clamped to the source's range
    labels = () if conditioning is None else (torch.arange(len(in_range)) % classes,)
    with torch.no_grad():
        before = discriminator(torch.from_numpy(source.transform(in_range)), *labels)
        after = wide_discriminator(torch.from_numpy(widened.transform(in_range)), *labels)
    torch.testing.assert_close(after, before, rtol=1e-5, atol=1e-5)


@pytest.fixture(scope="module")
def trained_source(tmp_path_factory) -> dict:
    """The checkpoint of a small G and D trained on the source table long enough for G's samples
    to gather where the source's values are."""
    folder = tmp_path_factory.mktemp("source")
    source_and_target()[0].to_csv(folder / "source.csv", index=False)
    assert run_in_process("pretrain", "data=csv", f"data.path={folder / 'source.csv'}", *TINY, "trainer.steps=300",
                          "trainer.ckpt_every=300", "trainer.log_every=100", f"hydra.run.dir={folder}") == 0
    return load_last(folder)


def test_the_generator_keeps_its_samples_in_place_after_widening(trained_source):
    source = Schema.from_dict(trained_source["schema"])
    widened = schema_for_target(source, source_and_target()[1], data_cfg(range="widen"))
    networks = settings_of("model", trained_source["plan"]["model"])
    generator, discriminator = models.build(networks, source.layout)
    generator.load_state_dict(sampler_weights(trained_source["networks"]))
    wide_generator, wide_discriminator = models.build(networks, widened.layout)
    g_state, _ = ranges.carry_over(wide_generator, wide_discriminator, generator.state_dict(),
                                   trained_source["networks"]["discriminator"], source, widened)
    wide_generator.load_state_dict(g_state)
    before = source.inverse(models.generate(generator, 2000, 0, "cpu").numpy())
    after = widened.inverse(models.generate(wide_generator, 2000, 0, "cpu").numpy())
    assert after["plan"].equals(before["plan"])  # the other columns' outputs are untouched
    for name in SHIFTED:
        column = source.columns[source.names.index(name)]
        moved = (after[name] - before[name]).abs() / (column.high - column.low)
        # Decoded with the wider scaling without the map, the same outputs would move by a fifth
        # of the source's range or more; with it, samples near the median barely move, those
        # nearer the ends of the source's range drift outwards (income's range grows 3.3 times).
        assert moved.median() < 0.01 and moved.quantile(0.9) < 0.1, (name, moved.describe())


def test_a_widened_finetune_samples_beyond_the_source_range(tmp_path, ganxfer):
    source_table, target = source_and_target()
    source_table.to_csv(tmp_path / "source.csv", index=False)
    target.to_csv(tmp_path / "target.csv", index=False)
    pretrained = ganxfer("pretrain", "data=csv", f"data.path={tmp_path / 'source.csv'}", *TINY)
    finetune = [f"ckpt={pretrained}/checkpoints/last.ckpt", "data=csv", f"data.path={tmp_path / 'target.csv'}",
                *TINY, "trainer.steps=60", "optimizer.lr_g=0.01", "transfer=full"]
    highest = {}
    for choice in ("source", "widen"):
        run = ganxfer("finetune", *finetune, f"data.range={choice}")
        schema = Schema.from_dict(load_last(run)["schema"])
        samples = tmp_path / f"samples-{choice}.csv"
        ganxfer("sample", f"ckpt={run}/checkpoints/last.ckpt", "n=2000", f"out={samples}")
        highest[choice] = pd.read_csv(samples)["age"].max()
        assert highest[choice] <= schema.columns[schema.names.index("age")].high
    assert highest["source"] <= source_table["age"].max()
    assert highest["widen"] > source_table["age"].max()


def test_a_widened_finetune_resumes_exactly_with_the_schema_it_saved(tmp_path, ganxfer):
    source_table, target = source_and_target()
    source_table.to_csv(tmp_path / "source.csv", index=False)
    target.to_csv(tmp_path / "target.csv", index=False)
    pretrained = ganxfer("pretrain", "data=csv", f"data.path={tmp_path / 'source.csv'}", *TINY)
    whole, resumed = whole_and_resumed(ganxfer, "finetune", f"ckpt={pretrained}/checkpoints/last.ckpt", "data=csv",
                                       f"data.path={tmp_path / 'target.csv'}", *TINY, "data.range=widen")
    assert resumed["schema"] == whole["schema"]
    age = Schema.from_dict(whole["schema"]).columns[0]
    assert age.name == "age" and age.high > source_table["age"].max()


def test_a_refitted_finetune_trains_the_same_whatever_data_range_says(tmp_path, ganxfer):
    source_table, target = source_and_target()
    source_table.to_csv(tmp_path / "source.csv", index=False)
    target.to_csv(tmp_path / "target.csv", index=False)
    pretrained = ganxfer("pretrain", "data=csv", f"data.path={tmp_path / 'source.csv'}", *TINY)
    finetuned = [load_last(ganxfer("finetune", f"ckpt={pretrained}/checkpoints/last.ckpt", "data=csv",
                                   f"data.path={tmp_path / 'target.csv'}", *TINY, "data.refit=true",
                                   f"data.range={choice}"))
                 for choice in ("source", "widen")]
    assert finetuned[0]["schema"] == finetuned[1]["schema"]
    for network in ("generator", "discriminator"):  # no weights mapped: refit changes the scaling itself
        for key, value in finetuned[0]["networks"][network].items():
            assert torch.equal(value, finetuned[1]["networks"][network][key]), (network, key)
