"""The run plan: what a pretrain or finetune run is built from, resolved once from the user's
config and the checkpoints it names. The config stays exactly as the user composed it; what the
run decides for itself (the source, the networks' settings, the conditioning, the target's
domain name) lives here, is passed down as arguments and is saved in every checkpoint."""

import math
import re
from dataclasses import asdict, dataclass, replace
from importlib.resources import files
from pathlib import Path


from ganxfer import checkpoint, transfer
from ganxfer.data import Schema
from ganxfer.data.tables import DOMAIN
from ganxfer.errors import UserError
from ganxfer.runtime import console
from ganxfer.settings import Data, Model, Settings, group_from_saved, todays_group
from ganxfer.training.conditioning import check_strategy_takes_labels


@dataclass(frozen=True)
class RunPlan:
    stage: str  # pretrain or finetune
    model: dict  # the networks' settings: the run's `model` group, or a finetune's source's
    source_path: str | None = None  # finetune: the checkpoint its networks start from
    resume_path: str | None = None  # the checkpoint this run continues
    domain: str | None = None  # the target rows' domain, when fine-tuning a domain-conditioned model

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Start:
    """A plan, the networks' settings it names, and the checkpoints it was resolved from, loaded once."""

    plan: RunPlan
    networks: Model  # plan.model as settings
    source: dict | None = None  # a fresh finetune's source checkpoint
    resumed: dict | None = None  # the checkpoint a resumed run continues

    @property
    def source_schema(self) -> Schema | None:
        return None if self.source is None else Schema.from_dict(self.source["schema"])

    @property
    def resumed_schema(self) -> Schema | None:
        return None if self.resumed is None else Schema.from_dict(self.resumed["schema"])


def plan_run(settings: Settings, config: dict, stage: str, device) -> Start:
    """Resolve what the run starts from: a resumed checkpoint, a finetune's source, or nothing.
    `config`: the run's config as composed, which a checkpoint saves and a resume compares."""
    if settings.resume is not None:
        resumed = _resumable(settings, config, stage, device)
        plan = _plan(settings, config, stage, resumed, resume_path=str(settings.resume))
        return Start(plan, group_from_saved("model", plan.model), resumed=resumed)
    if stage == "pretrain":
        plan = _plan(settings, config, stage, None)
        # The run's own `model` group, composed today: nothing in it to fill from today's defaults,
        # which group_from_saved would compose again (a tenth of a second).
        return Start(plan, replace(settings.model, conditional=plan.model["conditional"]))
    source_path = checkpoint.resolve(settings.ckpt, checkpoint.LATEST_OF["finetune"])
    source = checkpoint.load(source_path, device)
    _check_transferable(source, source_path)
    plan = _plan(settings, config, stage, source, source_path=str(source_path))
    # A source's settings, as an older ganxfer may have saved them: filled from today's defaults.
    return Start(plan, group_from_saved("model", plan.model), source=source)


# A finetune's data by default: the bundled target that matches its source's bundled data. It is
# chosen before Hydra composes the config, as if given on the command line: Hydra fixes the data
# group from the defaults list before any code can read the source checkpoint, and a run never
# edits its composed config (it is saved in every checkpoint as the user's), so the saved config
# names data=health_target as plainly as if the user had typed it.
TARGET_SUFFIX = "_target"
DATA_CONFIGS = files("ganxfer.conf") / "data"


def unused_model_settings(ckpt: str, typed: dict) -> str | None:
    """What to say of the `model` settings typed on a finetune's command line that differ from its
    source's: its networks are the source's, so they change nothing. None when all match, or when
    the checkpoint cannot be read (the run then says why)."""
    try:
        source = checkpoint.model_settings(checkpoint.load(checkpoint.resolve(ckpt, checkpoint.LATEST_OF["finetune"])))
    except UserError:
        return None
    kept = {key: source.get("name" if key == "model" else key.removeprefix("model.")) for key in typed}
    unused = [key for key in typed if typed[key] != kept[key]]
    if not unused:
        return None
    return (f"{', '.join(f'{key}={typed[key]}' for key in unused)} not used: a finetune's networks are its "
            f"source's ({', '.join(f'{key}={kept[key]}' for key in unused)}); pretrain a source with other "
            "networks to change them")


def default_target_data(ckpt: str) -> str | None:
    """For `ganxfer finetune ckpt=PATH|latest` without data=..., the data=NAME to add: the
    bundled target of the source's bundled data. None when the checkpoint cannot be read (the run
    then says why). A source trained on the user's own files has no such target: the user must
    name the target's rows. (cli.py reads `ckpt` off the command line.)"""
    try:
        source = checkpoint.load(checkpoint.resolve(ckpt, checkpoint.LATEST_OF["finetune"]))
    except UserError:
        return None
    data = source["config"]["data"]
    target = _bundled_target(data)
    if target is None:
        files_read = data.get("path") or data.get("sources")
        raise UserError(f"ckpt={ckpt} was trained on data={data['name']}"
                        + (f" ({files_read})" if files_read else "") + ", your own data, for which a "
                        "finetune has no default target: name the target's rows with data=csv "
                        "data.path=TARGET.csv (data=images data.path=DIR for a folder of images)")
    return target


def _bundled_target(data: dict) -> str | None:
    """data=NAME_target for a source's bundled data=NAME (a bundled target keeps its source's
    name, so a source trained on one gets it again); the digits' target for data=multi made of
    the bundled digits; None for the user's own files."""
    name = data["name"]
    if "multi" in (data.get("kind"), name):
        return None if data.get("sources") else "digits_target"
    target = name + TARGET_SUFFIX
    return target if (DATA_CONFIGS / f"{target}.yaml").is_file() else None


def _plan(settings: Settings, config: dict, stage: str, state: dict | None, source_path=None,
          resume_path=None) -> RunPlan:
    """`state`: the checkpoint the networks come from (source or resumed), whose settings they keep."""
    if state is None:
        # data=multi pretrains one model conditioned on the domain.
        model = {**config["model"], "conditional": settings.model.conditional or settings.data.kind == "multi"}
        return RunPlan(stage, model)
    if resume_path is not None:
        return RunPlan(stage, checkpoint.model_settings(state), source_path=checkpoint.source_path(state),
                       resume_path=resume_path, domain=checkpoint.domain(state))
    condition = Schema.from_dict(state["schema"]).condition
    if condition is not None:
        check_strategy_takes_labels(settings.transfer.name)
    # From a model conditioned on the domain onto data that are not data=multi, every target
    # row is one domain: a new one, unless a source domain has that name.
    conditioned_on_domain = condition is not None and condition.column == DOMAIN
    domain = _domain_name(settings.data) if conditioned_on_domain and settings.data.kind != "multi" else None
    return RunPlan(stage, checkpoint.model_settings(state), source_path=source_path, domain=domain)


def _domain_name(data: Data) -> str:
    """The file's name without its extension; for bundled data, its name and classes (digits56789),
    as data=multi names the bundled digits' domains."""
    if data.path:
        return Path(data.path).stem
    return data.name + "".join(map(str, data.classes or []))


def _check_transferable(source: dict, path) -> None:
    earlier = source["config"]["transfer"]["name"]
    if source["stage"] == "finetune" and transfer.changes_structure(earlier):
        raise UserError(f"{path} was fine-tuned with transfer={earlier}, which reshapes the networks; "
                        "transfer from its pretrain checkpoint instead")


# trainer.steps=auto, the finetune default: 2,000 steps for up to 200 training rows, then 10 per row
# up to pretrain's 10,000. Chosen on digits 5-9 -> 0-4 and the health table's Charleston site
# (docs/transfer.md), never on the rows the study scores. Shorter runs for fewer rows suited the
# digits, whose fine-tunes fit ten rows within 1,000 steps and then drift from the held-out ones;
# the health table's kept improving to 2,000 steps at every size, and only there did transfer beat
# scratch at ten rows. With L2-SP (the finetune default) the digits' drift is slow enough that
# 2,000 steps still end well below scratch's.
STEPS_PER_ROW = 10
FEWEST_STEPS = 2000
MOST_STEPS = 10_000


def total_steps(setting, training_rows: int) -> int:
    """The run's trainer.steps: an integer as given; `auto` from the number of training rows."""
    if setting != "auto":
        return int(setting)
    return min(MOST_STEPS, max(FEWEST_STEPS, STEPS_PER_ROW * training_rows))


# trainer.ema_decay=auto. An average that starts from the source's G without warm-up (a finetune's,
# unless ema_warmup=true) pulls the fine-tuned weights toward the source's, which helps most when
# the target's rows are fewest: it remembers about 10,000 / rows steps (1 - decay = rows / 10,000),
# from 0.999 for 10 rows or fewer to 0.99 for 100 or more. With more rows the source is soon a
# drag: on digits 5-9 -> 0-4 with 100 rows (l2sp), FD reached scratch's final value after 333 steps
# at 0.99 against 867 at 0.999, and ended level; with 10 rows 0.99 ended 0.8 higher
# (docs/transfer.md). An average that starts from random weights keeps 0.999.
DECAY_ROWS = 10_000
SLOWEST_DECAY = 0.999
FASTEST_DECAY = 0.99


def average_decay(setting, from_source: bool, training_rows: int) -> float:
    """The EMA's decay: a number as given; `auto` from where the average starts and the rows."""
    if setting != "auto":
        return float(setting)
    if not from_source:
        return SLOWEST_DECAY
    return min(SLOWEST_DECAY, max(FASTEST_DECAY, 1 - training_rows / DECAY_ROWS))


# transfer.lambda_g and lambda_d = auto (transfer=l2sp). L2-SP pulls the weights toward the
# source's with the same strength whatever the number of rows, while what the rows say grows with
# them. Chosen on the tuning pairs by the FD of the finetune over the own run's (a pretrain on the
# same rows), geometric mean over the pairs: with 10 rows the strong pull did best; from 50 rows a
# pull ten times weaker did, gaining most where the source is unlike the target and costing up to
# half on a related one (docs/transfer.md, "Where the defaults came from").
STRONG_PULL, WEAK_PULL = 100.0, 10.0
STRONG_PULL_ROWS, WEAK_PULL_ROWS = 10, 50


def pull_weight(setting, training_rows: int) -> float:
    """L2-SP's weight: a number as given; `auto` from the number of training rows, log-linear in
    the rows between the strong pull's last size and the weak pull's first."""
    if setting != "auto":
        return float(setting)
    if training_rows <= STRONG_PULL_ROWS:
        return STRONG_PULL
    if training_rows >= WEAK_PULL_ROWS:
        return WEAK_PULL
    share = math.log(training_rows / STRONG_PULL_ROWS) / math.log(WEAK_PULL_ROWS / STRONG_PULL_ROWS)
    return STRONG_PULL * (WEAK_PULL / STRONG_PULL) ** share


def check_continues(start: Start, steps: int) -> None:
    """A resumed run must have steps left to do."""
    if start.resumed is not None and steps <= start.resumed["step"]:
        raise UserError(f"{start.plan.resume_path} has done {start.resumed['step']} steps already and trainer.steps="
                        f"{steps} is the run's total: ask for more steps to continue it")


def _resumable(settings: Settings, config: dict, stage: str, device) -> dict:
    state = checkpoint.load(settings.resume, device)
    if state["stage"] != stage:
        raise UserError(f"resume={settings.resume} is a {state['stage']} checkpoint; resume it with "
                        f"`ganxfer {state['stage']} resume=...`")
    _check_resumable_settings(config, state["config"], settings.resume, stage)
    return state


# Settings that shape the networks, their optimisers or the data they learn from: a resumed run
# keeps the checkpoint's. (An optimiser's saved state would silently override a new learning rate.)
# A finetune's networks follow its source, whatever its own `model` group says.
FIXED_ON_RESUME = {"pretrain": ("model", "transfer", "data", "optimizer", "augment", "meta"),
                   "finetune": ("transfer", "data", "optimizer", "augment")}


def resumed_options(resume: str, stage: str, named: set[str]) -> list[str]:
    """For `resume=PATH`, the checkpoint's option of each group fixed on resume that the command
    line does not name (`augment=none`), and its values in that option that today's defaults
    changed (`transfer.lambda_g=100.0`, from before `auto`): a resumed run goes on as it was
    trained. `data` is left out: its option comes with the files it reads. Nothing when the
    checkpoint cannot be read (the run then says why)."""
    try:
        saved = checkpoint.load(resume)["config"]
    except UserError:
        return []
    options = []
    for group in FIXED_ON_RESUME[stage]:
        if group in named or group == "data" or group not in saved:
            continue
        options.append(f"{group}={saved[group]['name']}")
        today = _flatten(todays_group(stage, group, saved[group]["name"]))
        options += [_override(f"{group}.{key}", value) for key, value in _flatten(saved[group]).items()
                    if key in today and today[key] != value and f"{group}.{key}" not in named]
    return options


def _check_resumable_settings(config: dict, saved: dict, path, stage: str) -> None:
    """Refuse a resume whose settings would change what was trained; report the other changes."""
    before = _flatten(saved)
    after = _flatten(config)
    # A key the checkpoint lacks is a setting added since it was written (data.stream, meta.*):
    # its run went as that setting's default goes, so it is no change.
    changed = {key: (before.get(key, "unset"), after.get(key, "unset"))
               for key in sorted(before.keys())
               if key not in ("resume", "ckpt") and before[key] != after.get(key, "unset")}
    described = {key: f"{key}: {old!r} -> {new!r}" for key, (old, new) in changed.items()}
    fixed = [key for key in described if key.split(".")[0] in FIXED_ON_RESUME[stage]]
    if fixed:
        restore = " ".join(_override(key, changed[key][0]) for key in fixed)
        raise UserError(f"resume={path} was trained with other settings ({'; '.join(described[key] for key in fixed)}); "
                        f"resume with the checkpoint's settings ({restore}), or start a new run to change them")
    if described:
        console.print("resuming with changed settings: " + "; ".join(described.values()))


def _override(key: str, value) -> str:
    """The command-line setting that gives `key` its `value`: a group's option by its name."""
    group, _, leaf = key.partition(".")
    if leaf == "name":
        return f"{group}={value}"
    return f"{key}={_as_typed(value)}"


def _as_typed(value) -> str:
    """A saved value as the command line writes it, for Hydra to read back the same."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(_as_typed(item) for item in value) + "]"
    if isinstance(value, str) and not re.fullmatch(r"[\w./-]+", value):
        return repr(value)
    return str(value)


def _flatten(tree: dict, prefix: str = "") -> dict:
    flat = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat
