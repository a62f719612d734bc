"""ganxfer report SWEEP_DIR: one table over a finished sweep (mean ± sd per swept setting), with
a legend of its columns, and report.csv and report.png in the sweep directory; for a few-shot
study (scratch and other strategies over several data.shots), a second table of each strategy
against scratch, and against_scratch.csv."""

from pathlib import Path

from matplotlib.figure import Figure  # drawn straight to a file: no display, no pyplot state
from rich.table import Table

from ganxfer import metrics, sweep
from ganxfer.errors import UserError
from ganxfer.runtime import console
from ganxfer.settings import Settings
from ganxfer.training_log import LOG_COLUMNS

SKIPPED = {*LOG_COLUMNS, "best_step"}

# The legend's lines for the columns that are not metrics of the evaluate suite.
STEPS_TO_QUALITY = ("the first logged step at which a job's fd reached the final fd of scratch (the mean over "
                    "scratch's seeds, the other settings equal); lower is better: the strategy gets there sooner; "
                    "blank for scratch itself; never: not reached within the run")
OTHER_NUMBER = "a number from each job's metrics.json"
AGAINST_SCRATCH = {
    "fd": "the strategy's mean fd over its jobs on data.shots rows; lower is better",
    "scratch_fd": "scratch's mean fd on as many rows, the other settings equal",
    "vs_scratch": "(fd − scratch_fd) / scratch_fd; below zero: the strategy is better than scratch",
    "scratch_needs": ("the fewest rows, of the sizes swept, on which scratch's mean fd is at or below the "
                      "strategy's: \"10 rows ≈ scratch on 50\"; more than N: not on any size up to the largest, "
                      "N; —: scratch does as well on as many rows or fewer"),
}


def run(cfg) -> None:
    settings = Settings.from_config(cfg)
    if settings.stage.dir is None:
        raise UserError("name the sweep to report on: ganxfer report outputs/multirun/...")
    folder = Path(settings.stage.dir)
    jobs = sweep.load_jobs(folder)
    metric_names = [c for c in jobs.columns if c not in SKIPPED and jobs[c].dtype.kind == "f"
                    and c != "job" and not c.startswith("best_")]
    keys = sweep.swept_keys(jobs, metric_names + list(SKIPPED) + [c for c in jobs if c.startswith("best_")])
    if len(jobs) > 1 and not keys and ("seed" not in jobs or jobs["seed"].nunique() < 2):
        raise UserError(f"{folder}: its {len(jobs)} jobs ran with the same settings and seed, so there is nothing "
                        "to compare; sweep a setting or the seed, e.g. `-m transfer=scratch,full seed=0,1,2`")
    jobs["steps_to_quality"] = sweep.steps_to_quality(jobs, keys)
    columns = metric_names + (["steps_to_quality"] if sweep.has_scratch(jobs, keys) else [])
    summary = sweep.summarise(jobs, keys, columns)
    summary.to_csv(folder / "report.csv", index=False)
    console.print(_table(summary, keys, columns, folder))
    _say_against_scratch(sweep.against_scratch(jobs, keys), folder)
    _say_unfinished(sweep.unfinished_jobs(folder), len(jobs))
    _plot(summary, keys, metric_names[0], folder / "report.png")
    console.print(f"wrote {folder / 'report.csv'} and {folder / 'report.png'}")


def _table(summary, keys, columns, folder) -> Table:
    several = summary["jobs"] > 1
    table = Table(title=_title(folder, several), caption=_legend(columns, several.any()), caption_justify="left")
    for key in [*keys, *columns, "jobs"]:
        table.add_column(key, justify="left" if key in keys else "right", overflow="fold")
    for _, row in summary.iterrows():
        cells = [str(row[key]) for key in keys]
        cells += [_cell(name, row) for name in columns]
        table.add_row(*cells, str(row["jobs"]))
    return table


def _say_against_scratch(table, folder: Path) -> None:
    """A few-shot study's second table: each strategy against scratch at each size; nothing for
    another sweep."""
    if table.empty:
        return
    table.to_csv(folder / "against_scratch.csv", index=False)
    printed = Table(title=f"{folder}: against scratch, mean fd at each size", caption_justify="left",
                    caption="\n".join(f"{name}: {meaning}" for name, meaning in AGAINST_SCRATCH.items()))
    keys = list(table.columns[:-len(AGAINST_SCRATCH)])  # the other swept settings, data.shots, transfer
    for column in table.columns:
        printed.add_column(column, justify="left" if column in keys else "right", overflow="fold")
    for _, row in table.iterrows():
        printed.add_row(*[str(row[key]) for key in keys], _number(row["fd"]), _number(row["scratch_fd"]),
                        _percentage(row["vs_scratch"]), row["scratch_needs"])
    console.print(printed)
    console.print(f"wrote {folder / 'against_scratch.csv'}")


def _number(value: float) -> str:
    return "-" if value != value else f"{value:.4g}"


def _percentage(ratio: float) -> str:
    """A signed percentage with a true minus sign: −23%, +5%; - when scratch ran no such size."""
    return "-" if ratio != ratio else f"{ratio:+.0%}".replace("-", "−")


def _say_unfinished(unfinished: list, finished: int) -> None:
    """Failed jobs wrote no metrics: the table holds only the finished ones, and says so."""
    if unfinished:
        console.print(f"{len(unfinished)} of {len(unfinished) + finished} jobs failed and are left out "
                      f"(no metrics.json; each one's log says why): {', '.join(map(str, unfinished))}",
                      soft_wrap=True)


def _title(folder, several) -> str:
    """What the numbers are: a single job's values, or the mean ± sd over a setting's seeds."""
    if not several.any():
        return f"{folder}: one job per setting, its values"
    alone = "" if several.all() else "; a setting of one job: its value alone"
    return f"{folder}: mean ± sd over each setting's jobs (its seeds){alone}"


def _legend(columns, with_sd: bool) -> str:
    """A line per column of the table: what it measures, and which way is better."""
    lines = [f"{name}: " + (STEPS_TO_QUALITY if name == "steps_to_quality" else metrics.meaning(name) or OTHER_NUMBER)
             for name in columns]
    lines.append("jobs: the setting's finished jobs" + ("; ± sd: the standard deviation over them" if with_sd else ""))
    return "\n".join(lines)


def _cell(name: str, row) -> str:
    mean, sd = row[f"{name}_mean"], row[f"{name}_std"]
    if name == "steps_to_quality" and row["transfer"] == "scratch":
        return ""  # scratch is the yardstick, not measured by it
    if mean != mean:  # NaN: no job reached scratch's quality, or the metric was not measured
        return "never" if name == "steps_to_quality" else "-"
    return f"{mean:.4g}" if sd != sd else f"{mean:.4g} ± {sd:.2g}"


def _plot(summary, keys, metric: str, path: Path) -> None:
    """The metric against shots, one line per strategy, when both were swept; else one bar per group."""
    figure = Figure(figsize=(6, 4))
    axes = figure.subplots()
    if {"transfer", "data.shots"} <= set(keys):
        summary = summary.assign(shots=summary["data.shots"].astype(int)).sort_values("shots")
        for strategy, rows in summary.groupby("transfer"):
            axes.errorbar(rows["shots"], rows[f"{metric}_mean"], yerr=rows[f"{metric}_std"].fillna(0),
                          label=strategy, marker="o", capsize=3)
        axes.set_xscale("log")
        axes.set_xlabel("training rows (data.shots)")
        axes.legend()
    else:
        labels = [", ".join(str(row[key]) for key in keys) or "all" for _, row in summary.iterrows()]
        axes.bar(labels, summary[f"{metric}_mean"], yerr=summary[f"{metric}_std"].fillna(0))
        axes.tick_params(axis="x", rotation=45)
    # The figure is read apart from the table's title: it says what its bars and error bars are.
    several = (summary["jobs"] > 1).any()
    axes.set_ylabel(f"{metric}: mean ± sd over each setting's jobs" if several else f"{metric}: one job per setting")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
