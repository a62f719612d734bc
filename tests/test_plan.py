"""The run plan: a run reads the user's config and never edits it; what it decides for itself
(source, model settings, domain) is in the plan, saved beside the config. Data readers are chosen
by data.kind, and settings a kind of data cannot use are refused."""

import json
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from conftest import TINY, load_last, mixed_table, run_in_process
from ganxfer.stages import finetune
from ganxfer.training import plan


@pytest.fixture(scope="module")
def wide_source(tmp_path_factory) -> Path:
    """A source whose networks differ from what a finetune's own `model` settings say."""
    folder = tmp_path_factory.mktemp("wide")
    assert run_in_process("pretrain", *TINY, "model.g_hidden=48", "model.d_layers=2", f"hydra.run.dir={folder}") == 0
    return folder / "checkpoints" / "last.ckpt"


def test_finetune_keeps_the_users_config_and_plans_with_the_sources_model(wide_source, ganxfer, monkeypatch):
    seen = []

    def watched(cfg, stage):
        before = OmegaConf.to_container(cfg)
        result = train(cfg, stage)
        seen.append(before == OmegaConf.to_container(cfg))
        return result

    train = finetune.train
    monkeypatch.setattr(finetune, "train", watched)
    state = load_last(ganxfer("finetune", *TINY, f"ckpt={wide_source}", "data.shots=20"))

    assert seen == [True]  # the config object left the run as it came in
    assert state["config"]["model"]["g_hidden"] == 32 and state["config"]["model"]["d_layers"] == 1  # as typed
    assert state["config"]["ckpt"] == str(wide_source)
    assert state["plan"]["model"]["g_hidden"] == 48 and state["plan"]["model"]["d_layers"] == 2  # the source's
    assert state["plan"]["source_path"] == str(wide_source) and state["plan"]["stage"] == "finetune"
    assert state["networks"]["generator"]["net.0.weight"].shape[0] == 48  # and the networks follow the plan


def test_a_fresh_pretrain_takes_its_networks_settings_as_composed(ganxfer, monkeypatch):
    """Its `model` group is today's: filling it from today's defaults, as a checkpoint's is
    (group_from_saved), would compose the config once more for nothing."""
    def refused(group, values):
        raise AssertionError(f"a fresh pretrain filled its {group} group from today's defaults")

    monkeypatch.setattr(plan, "group_from_saved", refused)
    state = load_last(ganxfer("pretrain", *TINY, "model.g_hidden=40"))
    assert state["networks"]["generator"]["net.0.weight"].shape[0] == 40
    assert state["plan"]["model"] == {**state["config"]["model"], "conditional": False}


def test_a_multi_domain_pretrain_plans_a_conditional_model_without_editing_model(ganxfer):
    state = load_last(ganxfer("pretrain", "data=multi", *TINY))
    assert state["config"]["model"]["conditional"] is False
    assert state["plan"]["model"]["conditional"] is True and state["plan"]["domain"] is None


def test_finetuning_a_domain_model_names_the_new_domain_in_the_plan(ganxfer):
    source = ganxfer("pretrain", "data=multi", *TINY) / "checkpoints" / "last.ckpt"
    state = load_last(ganxfer("finetune", *TINY, f"ckpt={source}", "data.shots=20"))
    assert state["plan"]["domain"] == "digits56789" and "domain" not in state["config"]["data"]
    evaluated = ganxfer("evaluate", f"ckpt={source.parents[1].parent / 'run1_finetune' / 'checkpoints' / 'last.ckpt'}",
                        "metrics=[fd]")
    assert (evaluated / "metrics.json").exists()  # evaluate reads the domain back from the plan


@pytest.mark.parametrize("overrides, phrase", [
    (["data=digits", "data.path=my.csv"], "unknown setting 'data.path'"),
    (["data.scaling=standard"], "unknown setting 'data.scaling'"),
    (["data=multi", "data.continuous=[pixel1]"], "data.continuous=['pixel1'] applies to tables only"),
    (["data=image_csv", "data.path=x.csv", "data.shape=[8,8]", "data.refit=true"], "data.refit=True applies to tables only"),
    (["data=csv", "data.path=x.csv", "data.pixel_range=[0,255]"], "data.pixel_range=[0, 255] applies to images only"),
], ids=["digits-with-path", "digits-with-scaling", "multi-images-with-continuous", "image-csv-with-refit",
        "table-with-pixel-range"])
def test_settings_a_kind_of_data_cannot_use_are_refused(overrides, phrase, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert run_in_process("pretrain", *overrides, *TINY, f"hydra.run.dir={tmp_path / 'run'}") == 2
    assert phrase in capsys.readouterr().err


def test_evaluate_compares_with_data_that_an_experiment_file_chooses(ganxfer, tmp_path):
    table = tmp_path / "table.csv"
    mixed_table(0, rows=120).to_csv(table, index=False)
    pretrained = ganxfer("pretrain", "data=csv", f"data.path={table}", *TINY) / "checkpoints" / "last.ckpt"
    other = tmp_path / "other.csv"
    mixed_table(1, rows=300).to_csv(other, index=False)
    experiments = tmp_path / "configs" / "experiment"
    experiments.mkdir(parents=True)
    (experiments / "other_data.yaml").write_text(
        f"# @package _global_\ndefaults:\n  - override /data: csv\ndata:\n  path: {other}\n")

    run = ganxfer("evaluate", f"ckpt={pretrained}", "metrics=[fd]", "+experiment=other_data",
                  f"hydra.searchpath=[file://{tmp_path / 'configs'}]")
    assert load_metrics(run)["real_rows"] == 60  # 20% of other.csv's 300 rows, not 20% of table.csv's 120
    assert load_metrics(ganxfer("evaluate", f"ckpt={pretrained}", "metrics=[fd]"))["real_rows"] == 24


def load_metrics(run_dir: Path) -> dict:
    return json.loads((run_dir / "metrics.json").read_text())


def test_a_checkpoint_written_before_a_setting_existed_still_resumes(ganxfer):
    """Settings added since a checkpoint was written (here meta and data.stream) are no change."""
    from ganxfer import checkpoint

    half = ganxfer("pretrain", *TINY, "trainer.steps=3") / "checkpoints" / "last.ckpt"
    state = checkpoint.load(half)
    del state["config"]["meta"]
    state["config"]["data"].pop("stream", None)
    checkpoint.save(half, state)
    resumed = ganxfer("pretrain", *TINY, f"resume={half}")
    assert load_last(resumed)["step"] == 6


def test_a_resume_keeps_its_strategy_and_refuses_another_named_on_the_command_line(ganxfer, ganxfer_outcome,
                                                                                    tmp_path):
    """A finetune trained with transfer=full resumes with it, though today's default strategy is
    l2sp; a command line that names another strategy is refused with the override that resumes it."""
    from conftest import assert_user_error

    source = ganxfer("pretrain", *TINY) / "checkpoints" / "last.ckpt"
    half = ganxfer("finetune", f"ckpt={source}", "transfer=full", *TINY[1:], "trainer.steps=3")
    result = ganxfer_outcome(tmp_path, "finetune", f"ckpt={source}", "transfer=l2sp", *TINY[1:], "trainer.steps=6",
                             f"resume={half}/checkpoints/last.ckpt")
    assert_user_error(result, "transfer.name: 'full' -> 'l2sp'", "(transfer=full)")
    resumed = load_last(ganxfer("finetune", f"ckpt={source}", *TINY[1:], "trainer.steps=6",
                                f"resume={half}/checkpoints/last.ckpt"))
    assert resumed["step"] == 6 and resumed["config"]["transfer"]["name"] == "full"
