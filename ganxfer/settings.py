"""A run's settings, typed: one frozen dataclass per config group and `Settings` holding them with
the top-level keys. Built once, at the stage boundary, by `Settings.from_config` (the config Hydra
composed) or `Settings.from_saved` (the config a checkpoint saved), and checked where they are built.

The YAML files under `ganxfer/conf/` are the one source of defaults: no field here has a default
of its own but None, which marks a key that only some options of a group have (data.path for
data=csv, transfer.lambda_g for transfer=l2sp). A field's name is its key's name.
tests/test_settings.py checks that every key of every YAML file has a field and every field a key."""

import copy
from dataclasses import dataclass, fields
from functools import lru_cache
from typing import Any

from hydra import compose, initialize_config_module
from hydra.core.global_hydra import GlobalHydra
from hydra.errors import HydraException
from omegaconf import OmegaConf

from ganxfer import metrics
from ganxfer.errors import UserError


@dataclass(frozen=True)
class Trainer:
    steps: Any  # an integer, or "auto" (pretrain, finetune: resolved from the training rows)
    batch_size: int
    device: str
    threads: Any  # "auto" or an integer >= 1
    log_every: int
    ckpt_every: int
    eval_every: int
    monitor: str
    final_metrics: list
    d_steps: int
    grad_clip: float | None
    on_nonfinite: str
    ema: bool
    ema_decay: Any  # "auto" or a number
    ema_warmup: Any  # "auto" or a boolean
    precision: str
    compile: bool


@dataclass(frozen=True)
class Data:
    kind: str
    name: str
    path: str | None = None
    label: str | None = None
    classes: list | None = None
    shots: int | None = None
    shape: list | None = None
    pixel_range: list | None = None
    holdout: float | None = None
    split_seed: int | None = None
    drop: list | None = None
    missing: str | None = None
    # tables (conf/data/_table.yaml)
    categorical: list | None = None
    continuous: list | None = None
    max_categories: int | None = None
    scaling: str | None = None
    refit: bool | str | None = None
    range: str | None = None
    stream: Any = None
    buffer_rows: int | None = None
    # data=images
    skip_bad: bool | None = None
    # data=multi
    sources: list | None = None
    groups: list | None = None

    @property
    def widens_ranges(self) -> bool:
        """A finetune's min-max ranges widened to cover the target, the weights mapped to them
        (data.range=widen); a refit fits the target's scaling instead, and maps nothing."""
        return self.range == "widen" and self.refit is not True


@dataclass(frozen=True)
class Model:
    name: str
    z_dim: int
    spectral_norm: bool
    conditional: bool
    conditioning: str
    embed_dim: int
    # model=mlp
    g_hidden: int | None = None
    g_layers: int | None = None
    d_hidden: int | None = None
    d_layers: int | None = None
    # model=dcgan
    g_channels: int | None = None
    d_channels: int | None = None


@dataclass(frozen=True)
class Optimizer:
    name: str
    lr_g: float
    lr_d: float
    betas: list


@dataclass(frozen=True)
class Loss:
    name: str
    r1_gamma: float
    r1_every: int
    gp_weight: float
    instance_noise: float
    adversarial_weight: float
    feature_matching: float
    moment_matching: float
    moment_distance: str


@dataclass(frozen=True)
class Transfer:
    name: str
    lr_g_mult: float
    lr_d_mult: float
    load_optimizer: bool
    reinit_head: bool
    remap: bool
    # cdc, dcl
    weight: float | None = None
    batch: int | None = None
    layers: list | None = None
    tau: float | None = None
    # ewc
    lambda_ewc: float | None = None
    fisher_batches: int | None = None
    # freeze_d, freeze_g
    freeze_layers: int | None = None
    # l2sp: a number, or "auto" (resolved from the training rows: training.plan.pull_weight)
    lambda_g: Any = None
    lambda_d: Any = None
    # minegan
    mine_steps: int | None = None
    miner_hidden: int | None = None
    # scale_shift
    train_output: bool | None = None


@dataclass(frozen=True)
class Augment:
    name: str
    # image and tabular (conf/augment/_adaptive.yaml)
    p: float | None = None
    adaptive: bool | None = None
    r_target: float | None = None
    interval: int | None = None
    speed: float | None = None
    # image
    brightness: float | None = None
    translation: float | None = None
    cutout: float | None = None
    # tabular
    jitter: float | None = None
    dropout: float | None = None


@dataclass(frozen=True)
class Meta:
    name: str
    # reptile and task_average (conf/meta/_tasks.yaml)
    tasks_from: str | None = None
    clusters: int | None = None
    # reptile
    inner_steps: int | None = None
    task_rows: int | None = None
    epsilon: float | None = None
    anneal: bool | None = None


@dataclass(frozen=True)
class Logger:
    name: str
    # mlflow
    tracking_uri: str | None = None
    experiment: str | None = None


@dataclass(frozen=True)
class Stage:
    name: str
    dir: str | None = None  # report: the sweep directory


# Each config group and the dataclass of its settings.
GROUPS = {"trainer": Trainer, "data": Data, "model": Model, "optimizer": Optimizer, "loss": Loss,
          "transfer": Transfer, "augment": Augment, "meta": Meta, "logger": Logger, "stage": Stage}


@dataclass(frozen=True)
class Settings:
    seed: int
    ckpt: str | None
    resume: str | None
    debug: bool
    n: int
    out: str | None
    metrics: list | None
    trainer: Trainer
    data: Data
    model: Model
    optimizer: Optimizer
    loss: Loss
    transfer: Transfer
    augment: Augment
    meta: Meta
    logger: Logger
    stage: Stage
    # keys of one stage (conf/stage/*.yaml)
    per_class: Any = None  # evaluate: a boolean; sample: a row count per label
    label: Any = None  # sample: the label of every row written

    @classmethod
    def from_config(cls, cfg) -> "Settings":
        """The settings of the config Hydra composed for this run, checked."""
        settings = cls.from_dict(OmegaConf.to_container(cfg, resolve=True))
        settings.check()
        return settings

    @classmethod
    def from_dict(cls, config: dict) -> "Settings":
        """The settings of a plain, fully resolved config (Hydra's own `hydra` key left out)."""
        groups = {group: _group(kind, config[group]) for group, kind in GROUPS.items()}
        return _group(cls, {**config, **groups})

    @classmethod
    def from_saved(cls, config: dict) -> "Settings":
        """The settings of a config a checkpoint saved: what an older ganxfer did not write yet is
        filled from today's defaults of the same options (loss=wgan_gp's, data=csv's, ...); keys
        that no longer exist are dropped."""
        return cls.from_dict(_with_todays_defaults(config))

    def check(self) -> None:
        """Checks on values that Hydra's untyped YAML lets through (validate.py has checked the
        command line's keys and types before Hydra ran)."""
        if self.stage.name not in ("pretrain", "finetune"):
            return
        if self.stage.name != "pretrain" and self.meta.name != "none":
            raise UserError(f"meta={self.meta.name} is a way to pretrain: fine-tune its checkpoint with meta=none "
                            "(the default)")
        if self.trainer.monitor not in metrics.QUICK:
            raise UserError(f"trainer.monitor={self.trainer.monitor!r}; choose one of {', '.join(metrics.QUICK)}")
        unknown = [str(name) for name in self.trainer.final_metrics if name not in metrics.METRICS]
        if unknown:
            raise UserError(f"trainer.final_metrics names unknown metric(s) {', '.join(unknown)}; choose from: "
                            f"{', '.join(metrics.METRICS)}")
        check_threads(self.trainer.threads)


def check_threads(setting) -> None:
    if setting != "auto" and (isinstance(setting, bool) or not isinstance(setting, int) or setting < 1):
        raise UserError(f"trainer.threads={setting!r} must be auto or an integer >= 1")


def _group(kind, values: dict):
    """One dataclass from its keys. Keys it has no field for are no setting of ganxfer's: a value
    an experiment defines for its own interpolations (+experiment=digits_meta's `source`), or one
    added with `+group.key=`, which nothing reads."""
    known = {field.name for field in fields(kind)}
    return kind(**{key: value for key, value in values.items() if key in known})


def group_from_saved(group: str, values: dict):
    """One group's settings as an older checkpoint saved them (a plan's `model`), filled from
    today's defaults of the same option."""
    return GROUPS[group](**_with_todays_defaults({group: values})[group])


def todays_group(stage: str, group: str, option: str) -> dict:
    """Today's defaults of one group's option, as a run of `stage` composes them (unresolved)."""
    return _todays_defaults((f"stage={stage}", f"{group}={option}")).get(group, {})


def _with_todays_defaults(config: dict) -> dict:
    """`config` over today's composed defaults for the options it names: each group's YAML file of
    the same name (its `name` key), the top-level keys of config.yaml and of its stage."""
    choices = [f"stage={config.get('stage', {}).get('name', 'pretrain')}"]
    choices += [f"{group}={config[group]['name']}" for group in GROUPS
                if group not in ("trainer", "stage") and isinstance(config.get(group), dict) and "name" in config[group]]
    today = copy.deepcopy(_todays_defaults(tuple(choices)))
    filled = {key: value for key, value in config.items() if key in today}
    for key, default in today.items():
        if key not in filled:
            filled[key] = default
        elif isinstance(default, dict) and isinstance(filled[key], dict):
            filled[key] = {**default, **{name: value for name, value in filled[key].items() if name in default}}
    return OmegaConf.to_container(OmegaConf.create(filled), resolve=True)


@lru_cache
def _todays_defaults(choices: tuple[str, ...]) -> dict:
    """Today's config for these group choices, unresolved and without Hydra's own key, composed by
    Hydra (inside a running ganxfer command, with its own search path; elsewhere, from the
    package's conf/) once per process: a composition takes about 0.1 s. An option that no longer
    exists leaves its group at the default."""
    def compose_with(chosen):
        try:
            return compose("config", overrides=list(chosen))
        except HydraException:
            if chosen == choices[:1]:
                raise
            return compose_with(choices[:1])

    if GlobalHydra.instance().is_initialized():
        composed = compose_with(choices)
    else:
        with initialize_config_module("ganxfer.conf", version_base="1.3"):
            composed = compose_with(choices)
    today = OmegaConf.to_container(composed, resolve=False)
    today.pop("hydra", None)
    return today
