"""`ganxfer <stage> [Hydra overrides]`: the stage becomes the override stage=<stage>, Hydra
composes the config from conf/, and stages.<stage>.run(cfg) does the work."""

import os
import shlex
import sys
import traceback
from datetime import datetime
from importlib.resources import files
from pathlib import Path
from typing import NoReturn

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.errors import HydraException
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import InterpolationResolutionError

from ganxfer import distributed, outputs
from ganxfer.errors import Interrupted, JobFailed, UserError, fault_report
from ganxfer.runtime import run_log, without_hydras_notes_on_our_failures
from ganxfer.validate import check_overrides, check_values, missing_plugin


def unless_files(sources, value):
    """`${unless_files:${.sources},VALUE}`: a bundled dataset's setting (the digits' image shape),
    which data given as files must not inherit."""
    return None if sources else value


def bundled(name):
    """`${bundled:FILE}`: the path of a table shipped inside the package (ganxfer/data/bundled/)."""
    return str(files("ganxfer.data") / "bundled" / name)


for resolver in (unless_files, bundled):
    if not OmegaConf.has_resolver(resolver.__name__):
        OmegaConf.register_new_resolver(resolver.__name__, resolver)
STAGES = ("pretrain", "finetune", "evaluate", "sample", "report")

MULTIRUN_FLAGS = ("-m", "--multirun")


@hydra.main(config_path="pkg://ganxfer.conf", config_name="config", version_base="1.3")
def run_stage(cfg: DictConfig):
    from ganxfer import stages  # imported here: `ganxfer --help` stays quick

    if in_sweep():
        (job_folder() / outputs.JOB_ERROR).unlink(missing_ok=True)  # an earlier sweep's, in the same folder
    try:
        check_values(cfg)
        result = stages.runner(cfg.stage.name)(cfg)
        # Hydra's job log, <stage>.log in the run directory: a record that outlives the console,
        # e.g. of a job that a launcher ran in another process or on another machine.
        run_log.info("%s finished in process %d, returning %s", cfg.stage.name, os.getpid(), result)
        return result
    except Exception as err:
        if cfg.debug and not in_sweep():
            raise  # Hydra shows the traceback
        report_failure(cfg.stage.name, err, with_traceback=cfg.debug)


def report_failure(stage: str, err: Exception, with_traceback: bool = False) -> NoReturn:
    """Say why the run failed: a user's mistake in one paragraph, a fault of ganxfer with its
    traceback and a request to report it. A single run then ends, by SystemExit, which passes
    through Hydra. A job of a sweep records the message in its folder and raises JobFailed, an
    Exception: Hydra marks the job failed and the sweep goes on to the next one."""
    who = f"ganxfer {stage}" + (f" (job {HydraConfig.get().job.num})" if in_sweep() else "")
    if not distributed.is_main():
        who += f" (rank {distributed.rank()})"
    if isinstance(err, InterpolationResolutionError) and err.full_key and "${" in this_command(stage):
        # A ${...} the user typed that does not resolve (ganxfer's own configs' are tested).
        err = UserError(f"{err.full_key} could not be resolved: {(str(err) or type(err).__name__).splitlines()[0]}")
    if isinstance(err, UserError):
        message = (traceback.format_exc() if with_traceback else "") + f"{who}: error: {err}"
    else:
        message = f"{traceback.format_exc()}{who}: {fault_report(this_command(stage))}"
    print(message, file=sys.stderr)
    if not in_sweep() or isinstance(err, Interrupted):  # Ctrl-C or pre-emption stops the whole sweep
        sys.exit(err.exit_code if isinstance(err, UserError) else 1)
    run_log.error(message)  # the job's own <stage>.log; the console has it from stderr
    (job_folder() / outputs.JOB_ERROR).write_text(message + "\n")
    # Not chained to `err`: the message has said what it said, and Hydra would print an OmegaConf
    # error a second time.
    raise JobFailed(f"{who} {JobFailed.SAYS}{job_folder() / outputs.JOB_ERROR}") from None


def in_sweep() -> bool:
    return HydraConfig.get().mode == RunMode.MULTIRUN


def job_folder() -> Path:
    return Path(HydraConfig.get().runtime.output_dir)


def this_command(stage: str) -> str:
    """`ganxfer <stage> ...` with the settings of this run (of this job, in a sweep)."""
    overrides = OmegaConf.to_container(HydraConfig.get().overrides.task, resolve=False)  # as typed: ${...} too
    settings = [arg for arg in overrides if not arg.startswith("stage=")]
    return shlex.join(["ganxfer", stage, *settings])


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] in ("-h", "--help"):
        print(usage())
        return 0 if argv else 2
    stage, overrides = argv[0], argv[1:]
    if stage == "report":
        overrides = report_overrides(overrides)
    if stage not in STAGES:
        print(f"ganxfer: unknown stage {stage!r}; choose one of: {', '.join(STAGES)}\n"
              "(`ganxfer --help` lists them with the config groups)", file=sys.stderr)
        return 2
    overrides = renamed_keys(overrides)
    problem = unwritable_output(overrides) or missing_plugin(overrides)
    if problem:
        print(f"ganxfer {stage}: error: {problem}", file=sys.stderr)
        return 2
    code = check_and_run(stage, overrides)
    if code == 0 and distributed.launched():
        distributed.end_process(code)
    return code


def check_and_run(stage: str, overrides: list[str]) -> int:
    """The command's settings checked before Hydra composes the config, then the run; the exit code."""
    try:
        if stage == "finetune":
            overrides = with_source_target_data(overrides)
            warn_of_unused_model_settings(overrides)
        if stage in ("pretrain", "finetune"):
            overrides = with_resumed_options(stage, overrides)
        check_overrides(stage, overrides, set(config_groups()) | {"stage"},
                        showing_config=any(arg in ("-c", "--cfg", "--info") for arg in overrides))
        if distributed.launched():
            distributed.check_launch(stage, overrides)
    except UserError as err:
        print(f"ganxfer {stage}: error: {err}", file=sys.stderr)
        return 2
    try:
        run(stage, overrides)
    except UserError as err:  # the stage's own errors are reported inside run_stage
        print(f"ganxfer {stage}: error: {err}", file=sys.stderr)
        return 2
    return 0


def note(message: str) -> None:
    """How the command's settings were taken, said once: under torchrun by rank 0 alone."""
    if distributed.first_process():
        print(message, file=sys.stderr)


# Old names of settings, still taken: old name -> new name.
RENAMED = {"augment.target": "augment.r_target"}


def renamed_keys(overrides: list[str]) -> list[str]:
    """Overrides with renamed keys written under their new names, and a note that says so."""
    renamed = []
    for arg in overrides:
        key, equals, value = arg.partition("=")
        if equals and key in RENAMED:
            note(f"ganxfer: {key} is now called {RENAMED[key]}; taking it as {RENAMED[key]}={value}")
            arg = f"{RENAMED[key]}={value}"
        renamed.append(arg)
    return renamed


def with_source_target_data(overrides: list[str]) -> list[str]:
    """A finetune given no data=... trains on the bundled target of its source's data, and says
    which (training/plan.py:default_target_data)."""
    from ganxfer.training.plan import default_target_data  # imports torch: only for a finetune

    source = source_without_data(overrides)
    target = None if source is None else default_target_data(source)
    if target is None:
        return overrides
    note(f"ganxfer finetune: no data= given: taking data={target}, the target of the source's data "
         "(data=NAME names other rows)")
    return with_settings_first(overrides, f"data={target}")


def warn_of_unused_model_settings(overrides: list[str]) -> None:
    """`model` settings on a finetune's command line that its source overrules, named
    (training/plan.py:unused_model_settings)."""
    parsed = [override for override in _parsed_settings(overrides) if not override.is_sweep_override()]
    typed = {override.key_or_group: override.value() for override in parsed
             if override.key_or_group.split(".")[0] == "model"}
    ckpt = _single_value(parsed, "ckpt")
    if typed and ckpt is not None:
        from ganxfer.training.plan import unused_model_settings  # imports torch: only for a finetune

        message = unused_model_settings(ckpt, typed)
        if message:
            note(f"ganxfer finetune: {message}")


def with_resumed_options(stage: str, overrides: list[str]) -> list[str]:
    """A resumed run keeps its checkpoint's options of the groups it cannot change
    (training/plan.py:resumed_options), unless the command line names them."""
    parsed = _parsed_settings(overrides)
    resume = _single_value(parsed, "resume")
    if resume is None:  # no resume, or a sweep over several (each run then names its options)
        return overrides
    from ganxfer.training.plan import resumed_options  # imports torch: only for a resumed run

    named = {override.key_or_group for override in parsed}
    return with_settings_first(overrides, *resumed_options(resume, stage, named))


def _parsed_settings(overrides: list[str]) -> list:
    """The command line's `key=value` settings as Hydra parses them; none if it cannot (the
    checks that follow report why)."""
    settings = [arg for arg in overrides if "=" in arg and not arg.startswith("-")]
    try:
        return OverridesParser.create().parse_overrides(settings)
    except HydraException:
        return []


def source_without_data(overrides: list[str]) -> str | None:
    """The one plain ckpt=... of a command line that gives no data=...; None otherwise (a sweep
    over ckpt, several, none, or overrides Hydra cannot parse, which the checks that follow report)."""
    parsed = _parsed_settings(overrides)
    if any(override.key_or_group == "data" for override in parsed):
        return None
    return _single_value(parsed, "ckpt")


def _single_value(parsed: list, key: str) -> str | None:
    """The value of the one plain `key=value` among parsed settings; None for none, several, a
    sweep over values, or null."""
    given = [override for override in parsed if override.key_or_group == key]
    if len(given) != 1 or given[0].is_sweep_override() or given[0].value() is None:
        return None
    return str(given[0].value())


def report_overrides(overrides: list[str]) -> list[str]:
    """`ganxfer report DIR` is `stage.dir=DIR`; a report writes only into the sweep's own folder
    (its report files and Hydra's log), never a run folder of its own under outputs/."""
    if overrides and "=" not in overrides[0] and not overrides[0].startswith("-"):
        overrides = [f"stage.dir={overrides[0]}", *overrides[1:]]
    folder = next((arg.split("=", 1)[1] for arg in overrides if arg.startswith("stage.dir=")), None)
    if folder is None or any(arg.startswith("hydra.run.dir=") for arg in overrides):
        return overrides
    return [*overrides, f"hydra.run.dir={folder}", "hydra.output_subdir=null"]


def run(stage: str, overrides: list[str]) -> None:
    """Hydra runs the stage (run_stage) in a folder named here; a failed run's folder goes
    again if the run left nothing in it (report_what_is_left)."""
    overrides, output_folder = pin_output_folder(stage, overrides)
    # Noted before Hydra makes the output folder: a failed run removes none of these.
    existing = outputs.folders_on_the_way(Path(output_folder)) if output_folder else set()
    multirun = any(arg in MULTIRUN_FLAGS for arg in overrides)
    sweep_folder = Path(output_folder) if output_folder and multirun else None
    earlier_jobs = outputs.job_starts(sweep_folder) if sweep_folder else {}
    with distributed.process_group(), without_hydras_notes_on_our_failures(multirun):
        if distributed.active():
            overrides = distributed.hydra_overrides(overrides, default_folder("hydra.run.dir"))
        sys.argv = [f"ganxfer {stage}", *with_settings_first(overrides, f"stage={stage}")]
        try:
            run_stage()
        except SystemExit as failure:
            # The basic sweeper ends a sweep whose jobs failed with the first failure, which Hydra
            # reports and exits on.
            failed_jobs = sweep_folder is not None and report_failed_jobs(stage, sweep_folder, earlier_jobs)
            if failure.code and output_folder and distributed.is_main() and not failed_jobs:
                report_what_is_left(stage, Path(output_folder), existing)
            raise
        # The Optuna sweeper tells its study that a trial failed, and goes on (max_failure_rate);
        # the sweep ends with exit code 1 all the same, as Hydra ends the basic sweeper's.
        if sweep_folder is not None and report_failed_jobs(stage, sweep_folder, earlier_jobs):
            sys.exit(1)


def pin_output_folder(stage: str, overrides: list[str]) -> tuple[list[str], str | None]:
    """The overrides with the run's (or sweep's) folder named outright, its `${now:...}` read
    from the clock now, and that folder; None when the folder's pattern needs Hydra to resolve.
    A resumed run goes on in the run folder of its checkpoint unless hydra.run.dir is given."""
    key = "hydra.sweep.dir" if any(arg in MULTIRUN_FLAGS for arg in overrides) else "hydra.run.dir"
    resumed_folder = outputs.run_folder_of(given_value(overrides, "resume"))
    if key == "hydra.run.dir" and given_value(overrides, key) is None and resumed_folder is not None:
        return with_settings_first(overrides, *continue_in(resumed_folder, overrides)), str(resumed_folder)
    pattern = given_value(overrides, key) or default_folder(key, given_value(overrides, "+experiment"))
    folder = outputs.resolve_pattern(pattern, stage, datetime.now())
    if folder is None:
        return overrides, None
    others = [arg for arg in overrides if not arg.startswith(key + "=")]
    return with_settings_first(others, f"{key}={folder}"), folder


def continue_in(run_folder: Path, overrides: list[str]) -> list[str]:
    """The settings that continue a run in its own folder: one train_log.csv and one best.ckpt for
    the whole run. Hydra's record there (.hydra/) stays that of the command that began the run,
    which is what `ganxfer report` reads of a sweep's job; the resumed settings are in every new
    checkpoint."""
    settings = [f"hydra.run.dir={run_folder}"]
    if given_value(overrides, "hydra.output_subdir") is None:
        settings.append("hydra.output_subdir=null")
    return settings


def report_what_is_left(stage: str, folder: Path, existing: set[Path]) -> None:
    """After a failed run: take its folder away if it holds no more than Hydra's records, else
    say where the run's files are (a checkpoint or log of the steps done is worth keeping). A
    folder that was there before, such as a resumed run's own, is one the user knows already."""
    if folder.absolute() in existing:
        return
    if not outputs.discard_failed_run(folder, existing):
        print(f"ganxfer {stage}: the failed run's files are kept in {folder}", file=sys.stderr)


def report_failed_jobs(stage: str, sweep_folder: Path, earlier_jobs: dict[Path, int]) -> bool:
    """After a sweep: how many of the jobs it ran failed, and which. True if any did."""
    jobs = [job for job, started in outputs.job_starts(sweep_folder).items() if earlier_jobs.get(job) != started]
    failed = [job for job in jobs if (job / outputs.JOB_ERROR).exists()]
    if failed:
        print(f"ganxfer {stage}: {len(failed)} of {len(jobs)} jobs of the sweep failed: {', '.join(map(str, failed))} "
              f"(each one's message is in its {outputs.JOB_ERROR} and {stage}.log)", file=sys.stderr)
    return bool(failed)


def given_value(overrides: list[str], key: str) -> str | None:
    return next((arg.split("=", 1)[1] for arg in reversed(overrides) if arg.startswith(key + "=")), None)


def default_folder(key: str, experiment: str | None = None) -> str:
    """hydra.run.dir or hydra.sweep.dir, unresolved (they may hold `${now:...}`): the experiment's
    (`+experiment=NAME`) where it sets one, else conf/config.yaml's."""
    conf = files("ganxfer.conf")
    for config_file in ([conf / "experiment" / f"{experiment}.yaml"] if experiment else []) + [conf / "config.yaml"]:
        if config_file.is_file():
            settings = OmegaConf.to_container(OmegaConf.load(config_file), resolve=False)
            folder = settings.get("hydra", {}).get(key.split(".")[1], {}).get("dir")
            if folder is not None:
                return folder
    raise ValueError(f"no {key} in conf/config.yaml")


def unwritable_output(overrides: list[str]) -> str | None:
    """Hydra creates the run directory before any ganxfer code runs, and reports a failure there
    with a traceback: check the folder it will be made in first."""
    for key in ("hydra.run.dir", "hydra.sweep.dir"):
        folder = given_value(overrides, key) or "outputs"
        existing = outputs.nearest_existing(Path(folder))
        if not existing.is_dir() or not outputs.can_create_in(existing):
            return (f"{key}={folder} cannot be created: {existing} is not a folder this user can write "
                    f"in; give {key}=A_WRITABLE_FOLDER")
    return None


def with_settings_first(args: list[str], *settings: str) -> list[str]:
    """Hydra's parser takes its overrides as one run of positional arguments (flags such as
    `--cfg job` may stand before or after it): put `settings` at the head of that run."""
    first = next((i for i, arg in enumerate(args) if "=" in arg and not arg.startswith("-")), len(args))
    return [*args[:first], *settings, *args[first:]]


def usage() -> str:
    options_of = config_groups()
    width = max(map(len, options_of))
    groups = "\n".join(f"  {group:<{width}} {', '.join(options)}" for group, options in options_of.items())
    return (
        "usage: ganxfer <stage> [key=value ...] [-m] [--cfg job] [hydra.run.dir=...]\n\n"
        "stages:\n"
        "  pretrain   train a GAN on the source data (default: bundled digits 0-4)\n"
        "  finetune   transfer a checkpoint to the target data: ckpt=PATH|latest (default: digits 5-9)\n"
        "  evaluate   compare a checkpoint's samples with held-out real rows: ckpt=PATH|latest\n"
        "  sample     write synthetic rows: ckpt=PATH|latest n=N out=FILE.csv\n"
        "  report     one table over a finished sweep: ganxfer report outputs/multirun/...\n\n"
        f"config groups (pick with group=option):\n{groups}\n\n"
        "`ganxfer <stage> --cfg job` prints the composed config; `ganxfer <stage> --help` shows Hydra's help."
    )


def config_groups() -> dict[str, list[str]]:
    root = files("ganxfer.conf")
    return {folder.name: sorted(entry.name.removesuffix(".yaml") for entry in folder.iterdir()
                                if entry.name.endswith(".yaml") and not entry.name.startswith("_"))
            for folder in sorted(root.iterdir(), key=lambda entry: entry.name)
            if folder.is_dir() and not folder.name.startswith("_")}
