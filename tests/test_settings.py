"""The typed settings (ganxfer/settings.py): one field per key of the YAML files, so that the two
cannot drift apart; built from a composed config, checked where built; an older checkpoint's
config filled from today's defaults."""

from dataclasses import fields
from importlib.resources import files

import pytest
import yaml
from hydra import compose, initialize_config_module

from ganxfer import cli  # noqa: F401  (registers the config's resolvers, as a command does)
from ganxfer.errors import UserError
from ganxfer.settings import GROUPS, Settings

CONF = files("ganxfer.conf")
STAGE_KEYS = {"defaults", "stage"}  # a stage file's own group choices and its name


def yaml_keys(path) -> set[str]:
    return set(yaml.safe_load(path.read_text()) or {}) - {"defaults"}


def field_names(kind) -> set[str]:
    return {field.name for field in fields(kind)}


@pytest.mark.parametrize("group", [group for group in GROUPS if group not in ("trainer", "stage")])
def test_every_key_of_a_groups_yaml_files_has_a_field_and_every_field_a_key(group):
    keys_by_file = {path.name: yaml_keys(path) for path in CONF.joinpath(group).iterdir() if path.name.endswith(".yaml")}
    fieldless = {name: sorted(keys - field_names(GROUPS[group])) for name, keys in keys_by_file.items()}
    assert not any(fieldless.values()), f"keys of conf/{group} without a field in settings.py: {fieldless}"
    keyless = field_names(GROUPS[group]) - set().union(*keys_by_file.values())
    assert not keyless, f"fields of settings.py's {GROUPS[group].__name__} in no conf/{group} file: {sorted(keyless)}"


def test_the_trainer_and_top_level_keys_have_fields_and_every_field_a_key():
    config = yaml.safe_load(CONF.joinpath("config.yaml").read_text())
    assert set(config["trainer"]) == field_names(GROUPS["trainer"])
    stage_files = [yaml.safe_load(path.read_text()) for path in CONF.joinpath("stage").iterdir()
                   if path.name.endswith(".yaml")]
    stage_keys = set().union(*(set(each["stage"]) if "stage" in each else set(each) for each in stage_files))
    assert stage_keys == field_names(GROUPS["stage"])
    top_level = set(config) - {"defaults", "hydra"}
    top_level |= set().union(*(set(each) - STAGE_KEYS - set(GROUPS) for each in stage_files if "stage" in each))
    assert top_level | set(GROUPS) == field_names(Settings)


def composed(*overrides: str):
    with initialize_config_module("ganxfer.conf", version_base="1.3"):
        return compose("config", overrides=list(overrides))


def test_settings_read_the_composed_config():
    settings = Settings.from_config(composed("stage=finetune", "transfer=ewc", "data=health_target"))
    assert settings.stage.name == "finetune" and settings.trainer.steps == "auto"
    assert settings.transfer.lambda_ewc == 1000.0 and settings.transfer.lambda_g is None
    assert settings.data.stream == "auto" and settings.data.classes == ["Georgetown County"]
    with pytest.raises(Exception):  # frozen: a stage reads its settings, never edits them
        settings.trainer.steps = 3


@pytest.mark.parametrize("override, message", [
    ("trainer.monitor=accuracy", "trainer.monitor='accuracy'; choose one of fd, mmd2_rbf"),
    ("trainer.final_metrics=[c2st,bogus]", "unknown metric(s) bogus"),
    ("trainer.threads=0", "trainer.threads=0 must be auto or an integer >= 1"),
])
def test_values_are_checked_where_the_settings_are_built(override, message):
    with pytest.raises(UserError, match=message.replace("(", r"\(").replace(")", r"\)")):
        Settings.from_config(composed("stage=pretrain", override))


def test_meta_learning_is_refused_outside_pretrain():
    with pytest.raises(UserError, match="meta=reptile is a way to pretrain"):
        Settings.from_config(composed("stage=finetune", "meta=reptile"))
    Settings.from_config(composed("stage=evaluate", "meta=reptile"))  # checked for training stages only


def test_an_older_checkpoints_config_is_filled_from_todays_defaults_of_its_options():
    today = Settings.from_config(composed("stage=finetune", "loss=wgan_gp", "transfer=l2sp", "data=csv",
                                          "data.path=rows.csv"))
    saved = yaml.safe_load(yaml.safe_dump(_as_saved(today)))
    for group, key in [("loss", "gp_weight"), ("transfer", "remap"), ("data", "stream"), ("trainer", "ema_warmup"),
                       ("model", "embed_dim")]:
        del saved[group][key]
    del saved["logger"], saved["debug"]  # a group and a key older versions had not
    saved["data"]["domain"] = "gone"  # a key since dropped
    filled = Settings.from_saved(saved)
    assert filled.loss.gp_weight == 10.0  # wgan_gp's default, not _penalties' 0
    assert filled.transfer.remap is False and filled.data.stream == "auto" and filled.trainer.ema_warmup == "auto"
    assert filled.logger.name == "none" and filled.debug is False
    assert filled.data.path == "rows.csv" and filled.transfer.lambda_g == today.transfer.lambda_g
    assert filled == today


def _as_saved(settings: Settings) -> dict:
    from dataclasses import asdict
    return asdict(settings)
