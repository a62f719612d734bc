"""Checks on the settings, run before any work. Hydra composes the config from untyped YAML: it
refuses a key that does not exist without saying which keys do, and it accepts any value for a
key. `check_overrides` names the allowed keys and compares each value's type with the default's;
`check_values` checks ranges on the composed config."""

from argparse import ArgumentError
from difflib import get_close_matches
from importlib.resources import files
from importlib.util import find_spec

from hydra import compose, initialize_config_module
from hydra._internal.utils import get_args_parser
from hydra.core.global_hydra import GlobalHydra
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import ChoiceSweep, Override
from hydra.errors import HydraException, MissingConfigException, OverrideParseException
from omegaconf import DictConfig, ListConfig, OmegaConf

from ganxfer.errors import UserError


def _auto_or_at_least_0(value) -> bool:
    return value == "auto" or (not isinstance(value, bool) and value >= 0)


# key -> (test, what a valid value is, whether null is allowed); a key absent from the config is skipped.
CHECKS = {
    "trainer.steps": (lambda v: v == "auto" or (isinstance(v, int) and not isinstance(v, bool) and v >= 1),
                      "auto or an integer >= 1", False),
    "trainer.batch_size": (lambda v: v >= 1, "an integer >= 1", False),
    "trainer.log_every": (lambda v: v >= 1, "an integer >= 1", False),
    "trainer.ckpt_every": (lambda v: v >= 1, "an integer >= 1", False),
    "trainer.eval_every": (lambda v: v >= 0, "an integer >= 0 (0: at the end only)", True),
    "trainer.d_steps": (lambda v: v >= 1, "an integer >= 1", False),
    "trainer.ema_decay": (lambda v: v == "auto" or (not isinstance(v, bool) and 0 <= v < 1),
                          "auto or a number in [0, 1) (trainer.ema=false turns the average off)", False),
    "trainer.grad_clip": (lambda v: v > 0, "> 0, or null for none", True),
    "trainer.on_nonfinite": (lambda v: v in ("stop", "skip"), "stop or skip", False),
    "trainer.threads": (lambda v: v == "auto" or (isinstance(v, int) and not isinstance(v, bool) and v >= 1),
                        "auto or an integer >= 1", False),
    "trainer.ema_warmup": (lambda v: v == "auto" or isinstance(v, bool), "auto, true or false", False),
    "data.refit": (lambda v: v == "auto" or isinstance(v, bool), "auto, true or false", False),
    "data.range": (lambda v: v in ("source", "widen"), "source or widen", False),
    "trainer.precision": (lambda v: str(v) in ("32", "bf16", "fp16"), "32, bf16 or fp16", False),
    "optimizer.lr_g": (lambda v: v > 0, "> 0", False),
    "optimizer.lr_d": (lambda v: v > 0, "> 0", False),
    "data.shots": (lambda v: v >= 1, "an integer >= 1, or null for all rows", True),
    "data.holdout": (lambda v: 0 < v < 1, "a share strictly between 0 and 1", False),
    "augment.p": (lambda v: 0 <= v <= 1, "a probability in [0, 1]", False),
    "augment.r_target": (lambda v: 0 <= v <= 1, "in [0, 1]", False),
    "transfer.lambda_g": (_auto_or_at_least_0, "auto or a number >= 0", False),
    "transfer.lambda_d": (_auto_or_at_least_0, "auto or a number >= 0", False),
    "transfer.lr_g_mult": (lambda v: v > 0, "> 0", False),
    "transfer.lr_d_mult": (lambda v: v > 0, "> 0", False),
    "meta.inner_steps": (lambda v: v >= 1, "an integer >= 1", False),
    "meta.task_rows": (lambda v: v >= 1, "an integer >= 1 (rows of a task per outer step)", False),
    "meta.epsilon": (lambda v: 0 < v <= 1, "in (0, 1]", False),
    "meta.clusters": (lambda v: v >= 2, "an integer >= 2", False),
    "meta.tasks_from": (lambda v: v in ("auto", "label", "clusters"), "auto, label or clusters", False),
    "n": (lambda v: v >= 1, "an integer >= 1", False),
}

_ABSENT = object()


def check_values(cfg) -> None:
    problems = []
    for key, (valid, expected, nullable) in CHECKS.items():
        value = OmegaConf.select(cfg, key, default=_ABSENT)
        if value is _ABSENT or (value is None and nullable):
            continue
        try:
            ok = value is not None and valid(value)
        except TypeError:
            ok = False
        if not ok:
            problems.append(f"{key}={value!r} must be {expected}")
    if OmegaConf.select(cfg, "data.name") == "image_csv" and OmegaConf.select(cfg, "data.shape") is None:
        # Not `???` in the YAML: data=image_csv extends data=csv, whose shape: null would win the merge.
        problems.append("data=image_csv needs data.shape=[C,H,W] (or [H,W]), the size of the picture in each row")
    problems += _table_settings_on_images(cfg)
    problems += _checkpoint_data_outside_evaluate(cfg)
    if problems:
        raise UserError("invalid settings: " + "; ".join(problems))


# What each training stage learns from, for a message asking for data of its own.
TRAINED_ON = {"pretrain": "the source data", "finetune": "the target data"}


def _checkpoint_data_outside_evaluate(cfg) -> list[str]:
    """data=from_checkpoint names no rows of its own: it is evaluate's default, the rows a
    checkpoint's run held out. A training stage given it must be told to name its data."""
    stage = OmegaConf.select(cfg, "stage.name")
    if OmegaConf.select(cfg, "data.kind") != "checkpoint" or stage not in TRAINED_ON:
        return []
    return [f"data=from_checkpoint compares a model with the rows its checkpoint's run held out, for "
            f"`ganxfer evaluate`; {stage} trains on {TRAINED_ON[stage]}: give it with data=NAME (a bundled "
            "table: digits, digits_target, health, health_target) or data=csv data.path=FILE.csv "
            "(data=images data.path=DIR for a folder of images)"]


def _table_settings_on_images(cfg) -> list[str]:
    """Image rows are scaled by their pixel range, so the settings that read and scale table
    columns (conf/data/_table.yaml) would do nothing there: a change to one is refused; and so
    is a pixel range on a table."""
    data = cfg.get("data")
    if data is None:
        return []
    if data.get("shape") is None:
        # The other way round: a pixel range means nothing to a table.
        return [] if data.get("pixel_range") is None else [
            f"data.pixel_range={list(data.pixel_range)} applies to images only; set data.shape=[C,H,W] when each "
            "row is an image, or leave the pixel range out"]
    defaults = OmegaConf.load(files("ganxfer.conf.data").joinpath("_table.yaml"))
    return [f"data.{key}={data[key]} applies to tables only; image rows (data.shape={list(data.shape)}) "
            f"are scaled by their pixel range" for key in defaults if key in data and data[key] != defaults[key]]


def check_overrides(stage: str, overrides: list[str], groups: set[str], showing_config: bool = False) -> None:
    """Every `key=value` override must name a key of the composed defaults and give a value of
    the default's type, and every key without a default (`???`, e.g. data.path of data=csv) must
    be given, except when the config is only shown (`--cfg job`). Group choices (`transfer=l2sp`)
    are composed first: they decide which keys exist. Additions (`+key=`) and Hydra's own
    settings are left to Hydra."""
    settings = _settings(overrides)
    parsed = [_parsed(setting, before) for setting, before in zip(settings, [None, *settings])]
    choices = [f"{'+' if override.is_add() else ''}{override.key_or_group}={_first_choice(override)}"
               for override in parsed if override.key_or_group in groups]
    # A user's own config folders (hydra.searchpath=[...]) hold options of those groups.
    choices += [arg for arg in settings if arg.startswith("hydra.searchpath=")]
    chosen = [f"stage={stage}", *choices]
    # Hydra's own groups (hydra/launcher=joblib) are composed only when given: checking them
    # composes Hydra's config too.
    hydra_choices = [f"{override.key_or_group}={_first_choice(override)}" for override in parsed
                     if override.key_or_group.startswith("hydra/")]
    try:
        with initialize_config_module("ganxfer.conf", version_base="1.3"):
            defaults = compose("config", overrides=chosen)
            if hydra_choices:
                compose("config", overrides=[*chosen, *hydra_choices], return_hydra_config=True)
    except MissingConfigException as err:
        raise UserError(_missing_option_message(err)) from None
    except HydraException as err:
        raise UserError(_hydra_message(err)) from None
    problems = [] if showing_config else _values_not_given(defaults, {override.key_or_group for override in parsed})
    for override in parsed:
        if (override.key_or_group in groups or override.is_hydra_override() or override.is_add()
                or override.is_force_add() or override.is_delete()):
            continue
        problems += _problems_with(override, defaults, chosen, groups)
    if problems:
        raise UserError("; ".join(problems))


def _settings(overrides: list[str]) -> list[str]:
    """The arguments that Hydra's command line reads as settings: all but its flags (`-m`,
    `--cfg job`) and their values. Read by the parser hydra.main reads the command line with, so
    that a stray word (the second half of an unquoted value with a space) is found here too."""
    parser = get_args_parser()
    parser.exit_on_error = False  # a flag Hydra refuses is left for Hydra to report
    try:
        known, others = parser.parse_known_args(overrides)
    except ArgumentError:
        return [arg for arg in overrides if "=" in arg and not arg.startswith("-")]
    return [*known.overrides, *(arg for arg in others if not arg.startswith("-"))]


def _parsed(setting: str, before: str | None) -> Override:
    """One setting, as Hydra reads it; one it cannot read is named with the likely cause.
    `before`: the setting before it on the command line."""
    try:
        return OverridesParser.create().parse_overrides([setting])[0]
    except OverrideParseException as err:
        detail = str(err).split("\nSee https://")[0].replace("\n", " ")
        if "=" not in setting and before is not None and "=" in before:
            # The shell split `data.path=my data/x.csv` at its space into two arguments.
            raise UserError(f"{setting!r} is not a setting (key=value): if it is the rest of {before!r}, whose "
                            f"value holds a space, quote the whole setting: '{before} {setting}'") from None
        if "=" not in setting:
            raise UserError(f"{setting!r} is not a setting: give settings as key=value, e.g. trainer.steps=100, "
                            "and quote one whose value holds a space") from None
        raise UserError(f"cannot read the setting {setting!r} ({detail}): check its brackets, braces and quotes; "
                        "quote a setting whose value holds spaces or brackets, e.g. 'data.classes=[a, b]'") from None


def _hydra_message(err: HydraException) -> str:
    """Hydra's message without its search-path listing, as one paragraph."""
    message = str(err).split("Config search path")[0]
    return " ".join(line.strip() for line in message.splitlines() if line.strip())


def _missing_option_message(err: MissingConfigException) -> str:
    """An option of a group that does not exist, with the options a user can pick (not the files
    whose names start with `_`, which only other options include) and the nearest one:
    `; did you mean transfer=l2sp?` for an option written slightly wrong."""
    group, _, option = (err.missing_cfg_file or "").rpartition("/")
    if not group or not err.options:
        return _hydra_message(err)
    options = [name for name in err.options if not name.startswith("_")]
    close = get_close_matches(option, options, n=1)
    meant = f"; did you mean {group}={close[0]}?" if close else ""
    return f"{group}={option}: could not find '{group}/{option}'; available options in '{group}': {', '.join(options)}{meant}"


# A value to show in the message for a key the user must give.
EXAMPLES = {"data.path": "FILE.csv", "data.shape": "[1,28,28]"}


def _values_not_given(defaults: DictConfig, given: set[str]) -> list[str]:
    """Keys whose default is `???` (a value only the user can give) that no override sets."""
    return [f"{key} has no default and must be given: add {key}={EXAMPLES.get(key, 'VALUE')} to the command line"
            for key in _keys_without_default(defaults) if key not in given]


def _keys_without_default(node: DictConfig, prefix: str = "") -> list[str]:
    keys = []
    for key in node.keys():
        if OmegaConf.is_missing(node, key):
            keys.append(prefix + str(key))
        elif isinstance(node[key], DictConfig):
            keys += _keys_without_default(node[key], f"{prefix}{key}.")
    return keys


def _first_choice(override: Override) -> str:
    """The option a group sweep (`transfer=full,l2sp`) starts with: its first job's keys."""
    return next(override.sweep_string_iterator()) if override.is_sweep_override() else override.value()


def _problems_with(override: Override, defaults: DictConfig, chosen: list[str], groups: set[str]) -> list[str]:
    key = override.key_or_group
    if not _has_key(defaults, key):
        return [_unknown_key(key, defaults, chosen, groups)]
    parent, _, leaf = key.rpartition(".")
    node = OmegaConf.select(defaults, parent) if parent else defaults
    default = None if OmegaConf.is_missing(node, leaf) else node[leaf]  # `???`: a value the user must give
    value = override.value()
    if isinstance(value, ChoiceSweep):
        values = value.list
    elif override.is_sweep_override():
        return []  # ranges and intervals are numeric by construction
    else:
        values = [value]
    return [f"{key}={value!r} must be {expected}" for value in values
            if not (value == "auto" and key in TAKE_AUTO) and (expected := _type_mismatch(default, value))]


# Keys whose integer default (pretrain's trainer.steps) may also be `auto`: a value the run
# chooses for itself. (Keys whose default is `auto` take integers by the type check alone.)
TAKE_AUTO = ("trainer.steps",)


def _unknown_key(key: str, defaults: DictConfig, chosen: list[str], groups: set[str]) -> str:
    parent, _, leaf = key.rpartition(".")
    node = OmegaConf.select(defaults, parent, default=None) if parent else defaults
    if not isinstance(node, DictConfig):
        return f"unknown setting {key!r}: {parent} is not a group of settings"
    keys = ", ".join(sorted(node.keys()))
    elsewhere = _options_with_key(key, chosen, groups)
    if elsewhere:
        group, current, options = elsewhere
        names = ", ".join(f"{group}={option}" for option in options)
        more = " (or another of those)" if len(options) > 1 else ""
        return (f"unknown setting {key!r} for {group}={current}: it is a setting of {names}; add "
                f"{group}={options[0]}{more} to the command line ({group}={current} takes: {keys})")
    close = get_close_matches(leaf, [str(name) for name in node.keys()], n=1)
    meant = f" (did you mean {parent + '.' if parent else ''}{close[0]}?)" if close else ""
    return f"unknown setting {key!r}{meant}; {parent or 'the top level'} takes: {keys}"


def _options_with_key(key: str, chosen: list[str], groups: set[str]) -> tuple[str, str, list[str]] | None:
    """For `data.path` under data=digits: (the group, its option chosen now, the group's other
    options that take the key: those that need it, when some do). Composed on this error's path only."""
    group, _, rest = key.partition(".")
    if group not in groups or not rest:
        return None
    others = [arg for arg in chosen if not arg.startswith(f"{group}=")]
    with initialize_config_module("ganxfer.conf", version_base="1.3"):
        current = compose("config", overrides=chosen, return_hydra_config=True).hydra.runtime.choices[group]
        options = [option for option in GlobalHydra.instance().config_loader().get_group_options(group)
                   if not option.startswith("_") and option != current]
        configs = {option: compose("config", overrides=[*others, f"{group}={option}"]) for option in options}
    needing = [option for option, cfg in configs.items() if key in _keys_without_default(cfg)]
    taking = needing or [option for option, cfg in configs.items() if _has_key(cfg, key)]
    return (group, current, taking) if taking else None


def _has_key(cfg: DictConfig, key: str) -> bool:
    parent, _, leaf = key.rpartition(".")
    node = OmegaConf.select(cfg, parent, default=None) if parent else cfg
    return isinstance(node, DictConfig) and leaf in node.keys()  # `in node` is False for `???`


def _type_mismatch(default, value) -> str | None:
    """What the value should be, if its type does not fit the default's; null always fits. (So a
    YAML default that may take fractions is written with a decimal point: `1.0`, not `1`.)"""
    if value is None or default is None:
        return None
    if isinstance(default, bool):
        return None if isinstance(value, bool) else "true or false"
    if isinstance(default, int):
        return None if isinstance(value, int) and not isinstance(value, bool) else "an integer"
    if isinstance(default, float):
        return None if isinstance(value, (int, float)) and not isinstance(value, bool) else "a number"
    if isinstance(default, (ListConfig, list)):  # a list from a resolver, e.g. data=multi's shape
        return None if isinstance(value, list) else "a list, e.g. [a,b]"
    if isinstance(default, (DictConfig, dict)):
        return None if isinstance(value, dict) else "a group of settings, e.g. {key: value}"
    return None if not isinstance(value, (list, dict)) else "a single value"


# Overrides that need an optional package: (override prefix, module it lives in, extra to install).
PLUGINS = (("hparams_search=", "hydra_plugins.hydra_optuna_sweeper", "sweeps"),
           ("hydra/sweeper=optuna", "hydra_plugins.hydra_optuna_sweeper", "sweeps"),
           ("hydra/launcher=joblib", "hydra_plugins.hydra_joblib_launcher", "sweeps"),
           ("hydra/launcher=submitit", "hydra_plugins.hydra_submitit_launcher", "sweeps"),
           ("logger=tensorboard", "tensorboard", "tensorboard"),
           ("logger=mlflow", "mlflow", "mlflow"))


def missing_plugin(overrides: list[str]) -> str | None:
    """Hydra reports a sweeper or launcher it cannot find as a missing config, and a logger
    would fail mid-run: name the extra to install instead."""
    for prefix, module, extra in PLUGINS:
        if any(arg.startswith(prefix) for arg in overrides) and not installed(module):
            return f"{prefix.rstrip('=')} needs an optional package: pip install 'ganxfer[{extra}]'"
    return None


def installed(module: str) -> bool:
    """find_spec imports a dotted name's parent packages, and raises when one of those is absent
    (hydra_plugins is itself installed by the plugins)."""
    try:
        return find_spec(module) is not None
    except ModuleNotFoundError:
        return False
