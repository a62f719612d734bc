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
    """Each job's command-line overrides (as columns) and the numbers of its metrics.json."""
    rows = []
    for job in outputs.sweep_jobs(folder):
        if not (job / "metrics.json").exists():
            continue
        overrides = OmegaConf.to_container(OmegaConf.load(job / outputs.JOB_OVERRIDES)) or []
        settings = dict(override.lstrip("+~").split("=", 1) for override in overrides if "=" in override)
        results = json.loads((job / "metrics.json").read_text())
        numbers = {key: value for key, value in results.items() if isinstance(value, (int, float))}
        rows.append({**settings, **numbers, "job": str(job)})
    if not rows:
        raise UserError(f"no finished jobs (a .hydra/overrides.yaml beside a metrics.json) under {folder}")
    return pd.DataFrame(rows)


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


def steps_to_quality(jobs: pd.DataFrame, keys: list[str], metric: str = "fd") -> pd.Series:
    """Per job: the first logged step at which its `metric` reached the final value that scratch
    reaches (mean over scratch's seeds, the other swept settings equal); NaN if it never did."""
    if "transfer" not in keys or "scratch" not in set(jobs["transfer"]):
        return pd.Series(np.nan, index=jobs.index)
    others = [key for key in keys if key != "transfer"]
    scratch = jobs[jobs["transfer"] == "scratch"]
    if others:
        targets = scratch.groupby(others)[metric].mean().rename("target").reset_index()
        target = jobs[others].merge(targets, on=others, how="left")["target"].to_numpy()
    else:
        target = np.full(len(jobs), scratch[metric].mean())
    return pd.Series([_first_step(Path(job), metric, goal) for job, goal in zip(jobs["job"], target)],
                     index=jobs.index)


def _first_step(job: Path, metric: str, goal: float) -> float:
    log = pd.read_csv(job / "train_log.csv").dropna(subset=[metric])
    reached = log[log[metric] <= goal]
    return float(reached["step"].iloc[0]) if len(reached) else np.nan
