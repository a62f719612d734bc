"""The folder a run writes to. Hydra makes it, with a copy of the config and a log file, before
any ganxfer code runs; a run that then fails on bad input would leave a folder that looks like a
run but holds none. So the folder is named before Hydra starts (its `${now:...}` resolved here),
the folders already on the way to it are noted, and a failed run's folder is taken away again
when it holds nothing but Hydra's own records. A sweep's folder holds a folder per job, with Hydra's
records and, for a job that failed, its message."""

import re
import shutil
import tempfile
from datetime import datetime
from pathlib import Path

# What Hydra writes into every run folder by itself: the config copy and the job's log file
# (a sweep folder holds multirun.yaml beside its jobs' folders).
HYDRA_RECORDS = (".hydra", "multirun.yaml")
HYDRA_LOG_SUFFIX = ".log"
# Hydra writes a job's overrides into its folder as it starts the job.
JOB_OVERRIDES = Path(".hydra") / "overrides.yaml"
# A failed job of a sweep leaves its message here, in its own folder.
JOB_ERROR = "error.txt"


def resolve_pattern(pattern: str, stage: str, now: datetime) -> str | None:
    """`outputs/${stage.name}/${now:%Y-%m-%d}` with the stage and the clock filled in; None when
    the pattern refers to other settings, which only Hydra can resolve."""
    folder = re.sub(r"\$\{now:([^}]*)\}", lambda match: now.strftime(match.group(1)), pattern)
    folder = folder.replace("${stage.name}", stage)
    return None if "${" in folder else folder


def run_folder_of(checkpoint_path: str | None) -> Path | None:
    """The run folder whose checkpoints/last.ckpt `checkpoint_path` is, recognised by the record
    Hydra keeps in it (.hydra/); None for any other checkpoint: best.ckpt, which the run went on
    from, or a file on its own."""
    if checkpoint_path is None:
        return None
    path = Path(checkpoint_path)
    folder = path.parent.parent
    if path.is_file() and path.parts[-2:] == ("checkpoints", "last.ckpt") and (folder / HYDRA_RECORDS[0]).is_dir():
        return folder
    return None


def folders_on_the_way(folder: Path) -> set[Path]:
    """`folder` and its parents that exist now: a failed run never removes one of these."""
    folder = folder.absolute()
    return {path for path in (folder, *folder.parents) if path.is_dir()}


def can_create_in(folder: Path) -> bool:
    """Whether a folder can be made inside `folder`. Tried rather than read from permission
    bits: root passes every permission check, yet /proc, say, refuses new folders to anyone."""
    try:
        Path(tempfile.mkdtemp(dir=folder, prefix=".ganxfer-check-")).rmdir()
        return True
    except OSError:
        return False


def nearest_existing(folder: Path) -> Path:
    folder = folder.absolute()
    while not folder.exists():
        folder = folder.parent
    return folder


def discard_failed_run(folder: Path, kept: set[Path]) -> bool:
    """Remove a failed run's `folder` (and a sweep's job folders in it) if it holds nothing but
    Hydra's records and empty folders, then the parents the run made that are now empty.
    Folders in `kept` (there before the run) stay. True if nothing of the run is left."""
    folder = folder.absolute()
    if not folder.is_dir():
        return True
    for job in [path for path in folder.iterdir() if path.is_dir() and path.name.isdigit()]:
        discard_failed_run(job, kept)
    if folder in kept or not holds_only_hydra_records(folder):
        return False
    shutil.rmtree(folder)
    for parent in folder.parents:
        if parent in kept or any(parent.iterdir()):
            break
        parent.rmdir()
    return True


def holds_only_hydra_records(folder: Path) -> bool:
    """True if every file under `folder` is Hydra's: nothing a run of ganxfer wrote."""
    for path in folder.iterdir():
        hydras = path.name in HYDRA_RECORDS or (path.is_file() and path.suffix == HYDRA_LOG_SUFFIX)
        empty_folder = path.is_dir() and not any(item.is_file() for item in path.rglob("*"))
        if not (hydras or empty_folder):
            return False
    return True


def sweep_jobs(folder: Path) -> list[Path]:
    """The folder of every job under a sweep's folder: each holds the overrides Hydra ran it with."""
    return sorted(overrides.parent.parent for overrides in Path(folder).glob(f"**/{JOB_OVERRIDES.as_posix()}"))


def job_starts(folder: Path) -> dict[Path, int]:
    """When each job under a sweep's folder was started (its overrides written). Taken before and
    after a sweep, the two tell the jobs that sweep ran from those of earlier sweeps in the folder."""
    return {job: (job / JOB_OVERRIDES).stat().st_mtime_ns for job in sweep_jobs(folder)}
