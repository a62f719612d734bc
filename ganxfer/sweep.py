"""Reading a finished sweep (Hydra multirun or Optuna): one row per job, grouped by what was swept."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
from omegaconf import OmegaConf

from ganxfer import outputs
from ganxfer.errors import UserError

NOT_SWEPT = ("seed", "hydra.", "ckpt")  # keys that never define a group of their own


def load_jobs(folder: Path) -> pd.DataFrame:
    """Each job's settings (the keys any job's command line set, as columns) and the numbers of
    its metrics.json. Refuses a folder that is not a sweep (check_a_sweep)."""
    rows, given = [], {}
    for job in outputs.sweep_jobs(folder):
        if not (job / "metrics.json").exists():
            continue
        overrides = OmegaConf.to_container(OmegaConf.load(job / outputs.JOB_OVERRIDES)) or []
        settings = dict(override.lstrip("+~").split("=", 1) for override in overrides if "=" in override)
        given.update(dict.fromkeys(settings))
        results = json.loads((job / "metrics.json").read_text())
        numbers = {key: value for key, value in results.items() if isinstance(value, (int, float))}
        rows.append({**settings, **numbers, "job": str(job)})
    if not rows:
        raise UserError(f"no finished jobs (a .hydra/overrides.yaml beside a metrics.json) under {folder}")
    check_a_sweep(folder, [Path(row["job"]) for row in rows])
    return with_default_values(pd.DataFrame(rows), list(given))


def check_a_sweep(folder: Path, finished: list[Path]) -> None:
    """A report compares the jobs of a sweep (`-m`), not single runs gathered in one folder: at
    least two jobs, finished or failed (the report names the failed ones), that Hydra ran as a
    sweep. A sweep of seeds alone makes one group, its spread."""
    swept = sum(_hydra_record(job).get("mode") == "MULTIRUN" for job in finished)
    failed = len(unfinished_jobs(folder))
    if swept == 0 or swept + failed < 2:
        raise UserError(f"{folder} is not a sweep: a report compares the jobs of a sweep, and it holds "
                        f"{swept + failed} such job(s) ({failed} of them failed) and {len(finished) - swept} "
                        "single run(s); run a sweep with -m and several values, e.g. "
                        "`ganxfer finetune -m transfer=scratch,full seed=0,1,2`, and report on its folder")


def with_default_values(jobs: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """The jobs with the value each ran with for a key that its command line left to the
    defaults and another job's set (finetune's default transfer, l2sp, beside transfer=scratch)."""
    for key in keys:
        for index in jobs.index[jobs[key].isna()]:
            jobs.loc[index, key] = _default_value(Path(jobs.loc[index, "job"]), key)
    return jobs


def _hydra_record(job: Path):
    """What Hydra wrote of how it ran the job: its mode, its config groups' choices."""
    return OmegaConf.load(job / ".hydra" / "hydra.yaml").hydra


def _default_value(job: Path, key: str) -> str:
    """A config group's chosen option (Hydra's record of the job's choices), else the key's value
    in the job's composed config, written as a command line writes it."""
    choices = _hydra_record(job).runtime.choices
    if key in choices:
        return str(choices[key])
    value = OmegaConf.select(OmegaConf.load(job / ".hydra" / "config.yaml"), key, default=None,
                             throw_on_resolution_failure=False)
    return _as_written(OmegaConf.to_container(value) if OmegaConf.is_config(value) else value)


def _as_written(value) -> str:
    """A value as a command line writes it, and overrides.yaml keeps it: 200, null, true, [5,6]."""
    if isinstance(value, list):
        return "[" + ",".join(map(_as_written, value)) + "]"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def unfinished_jobs(folder: Path) -> list[Path]:
    """The jobs under a sweep's folder that wrote no metrics.json: they failed (or were stopped)."""
    return [job for job in outputs.sweep_jobs(folder) if not (job / "metrics.json").exists()]


def swept_keys(jobs: pd.DataFrame, metric_columns) -> list[str]:
    settings = [c for c in jobs.columns if c not in metric_columns and c != "job" and not c.startswith(NOT_SWEPT)]
    return [key for key in settings if jobs[key].nunique(dropna=False) > 1]


def summarise(jobs: pd.DataFrame, keys: list[str], metric_names: list[str]) -> pd.DataFrame:
    """Mean and standard deviation of each metric per group of swept values, and the job count."""
    grouped = jobs.groupby(keys, dropna=False) if keys else jobs.assign(all="all").groupby("all")
    table = grouped[metric_names].agg(["mean", "std"])
    table.columns = [f"{metric}_{stat}" for metric, stat in table.columns]
    table["jobs"] = grouped.size()
    return table.reset_index()


def has_scratch(jobs: pd.DataFrame, keys: list[str]) -> bool:
    """Whether `transfer` was swept with scratch among its values: steps_to_quality's yardstick."""
    return "transfer" in keys and "scratch" in set(jobs["transfer"])


def steps_to_quality(jobs: pd.DataFrame, keys: list[str], metric: str = "fd") -> pd.Series:
    """Per job: the first logged step at which its `metric` reached the final value that scratch
    reaches (mean over scratch's seeds, the other swept settings equal); NaN if it never did, and
    for scratch's own jobs, the yardstick rather than a strategy measured by it."""
    if not has_scratch(jobs, keys):
        return pd.Series(np.nan, index=jobs.index)
    others = [key for key in keys if key != "transfer"]
    scratch = jobs[jobs["transfer"] == "scratch"]
    if others:
        targets = scratch.groupby(others)[metric].mean().rename("target").reset_index()
        target = jobs[others].merge(targets, on=others, how="left")["target"].to_numpy()
    else:
        target = np.full(len(jobs), scratch[metric].mean())
    steps = [np.nan if strategy == "scratch" else _first_step(Path(job), metric, goal)
             for job, strategy, goal in zip(jobs["job"], jobs["transfer"], target)]
    return pd.Series(steps, index=jobs.index)


def _first_step(job: Path, metric: str, goal: float) -> float:
    log = pd.read_csv(job / "train_log.csv").dropna(subset=[metric])
    reached = log[log[metric] <= goal]
    return float(reached["step"].iloc[0]) if len(reached) else np.nan


def against_scratch(jobs: pd.DataFrame, keys: list[str], metric: str = "fd") -> pd.DataFrame:
    """A few-shot study read against scratch: per setting of the other swept keys, size
    (`data.shots`) and strategy other than scratch, the strategy's mean `metric` over its jobs,
    scratch's at the same size and settings (`scratch_<metric>`), the ratio
    `vs_scratch` = (strategy − scratch) / scratch (below zero: the strategy is better), and
    `scratch_needs`: how many rows scratch needs to do as well (_rows_scratch_needs). Empty unless
    `transfer` was swept with scratch and `data.shots` over several sizes; a job trained on all
    rows (`data.shots=null`) has no size to compare, and is left out."""
    if not (has_scratch(jobs, keys) and "data.shots" in keys):
        return pd.DataFrame()
    sized = jobs.assign(**{"data.shots": pd.to_numeric(jobs["data.shots"], errors="coerce")})
    sized = sized.dropna(subset=["data.shots"]).astype({"data.shots": int})
    if sized["data.shots"].nunique() < 2:
        return pd.DataFrame()
    others = [key for key in keys if key not in ("transfer", "data.shots")]
    means = sized.groupby([*others, "data.shots", "transfer"], dropna=False)[metric].mean().reset_index()
    settings = [rows for _, rows in means.groupby(others, dropna=False)] if others else [means]
    with_scratch = [rows for rows in settings if (rows["transfer"] == "scratch").any()]
    if not with_scratch:
        return pd.DataFrame()
    table = pd.concat([_against_scratch_at_each_size(rows, metric) for rows in with_scratch], ignore_index=True)
    return table[[*others, "data.shots", "transfer", metric, f"scratch_{metric}", "vs_scratch", "scratch_needs"]]


def _against_scratch_at_each_size(means: pd.DataFrame, metric: str) -> pd.DataFrame:
    """One setting of the other swept keys: each strategy's mean at each size, beside scratch's."""
    scratch = means[means["transfer"] == "scratch"].set_index("data.shots")[metric].sort_index()
    rows = means[means["transfer"] != "scratch"].copy()
    rows[f"scratch_{metric}"] = rows["data.shots"].map(scratch)
    rows["vs_scratch"] = (rows[metric] - rows[f"scratch_{metric}"]) / rows[f"scratch_{metric}"]
    rows["scratch_needs"] = [_rows_scratch_needs(scratch, shots, value)
                             for shots, value in zip(rows["data.shots"], rows[metric])]
    return rows


def _rows_scratch_needs(scratch: pd.Series, shots: int, value: float) -> str:
    """The fewest rows, of the sizes swept, on which scratch's mean (`scratch`, indexed by size)
    is at or below a strategy's `value` on `shots` rows: "10 rows ≈ scratch on 50"; "more than
    200" (the largest size) when scratch does not get there; "—" when scratch does as well on as
    few rows or fewer, so that the strategy saves none."""
    enough = scratch.index[scratch <= value]
    if len(enough) == 0:
        return f"more than {scratch.index.max()}"
    if enough.min() <= shots:
        return "—"
    return f"{shots} rows ≈ scratch on {enough.min()}"
