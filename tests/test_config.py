"""Every stage composes, with the defaults and public keys the documentation promises."""

import pytest
from hydra import compose, initialize_config_module

from ganxfer.cli import STAGES, config_groups, usage


def composed(*overrides):
    with initialize_config_module("ganxfer.conf", version_base="1.3"):
        return compose("config", overrides=list(overrides))


@pytest.mark.parametrize("stage", STAGES)
def test_every_stage_composes_with_the_public_keys(stage):
    cfg = composed(f"stage={stage}")
    assert cfg.stage.name == stage
    for key in ("steps", "batch_size", "device", "log_every", "ckpt_every", "ema"):
        assert key in cfg.trainer
    for key in ("seed", "ckpt", "resume", "n", "out"):
        assert key in cfg
    assert {"data", "model", "optimizer", "loss", "transfer"} <= set(cfg)


def test_pretrain_uses_the_source_digits_and_finetune_the_few_shot_target():
    source, target = composed("stage=pretrain").data, composed("stage=finetune").data
    assert list(source.classes) == [0, 1, 2, 3, 4] and source.shots is None
    assert list(target.classes) == [5, 6, 7, 8, 9] and target.shots == 100


def test_data_on_the_command_line_beats_the_stage_default():
    cfg = composed("stage=finetune", "data=csv", "data.path=x.csv")
    assert cfg.data.name == "csv" and cfg.data.shots is None


def test_seed_network_and_optimiser_defaults():
    cfg = composed()
    assert (cfg.model.z_dim, cfg.model.g_hidden, cfg.model.d_hidden) == (100, 256, 256)
    assert cfg.optimizer.lr_g == cfg.optimizer.lr_d == 2e-4
    assert list(cfg.optimizer.betas) == [0.5, 0.999]
    assert cfg.loss.name == "ns" and cfg.transfer.name == "full"


def test_help_lists_stages_and_groups():
    groups = config_groups()
    assert {"data", "model", "optimizer", "loss", "transfer", "stage"} <= set(groups)
    assert {"full", "scratch"} <= set(groups["transfer"])
    text = usage()
    assert all(stage in text for stage in STAGES) and "digits_target" in text
