"""The few-shot study against what a user without a source would run: on each bundled pair, at each
size and seed, the default finetune, `transfer=scratch` and the target's own run, all scored in
one space fitted on the real held-out rows.

    python benchmarks/fewshot_study.py --out DIR [--pairs digits,health] [--shots 10 50 200] [--seeds 0 1 2]
                                       [--steps N] [--source-steps 10000] [--runs outputs/fewshot] [--quick]
                                       [--finetune KEY=VALUE ... --source KEY=VALUE ... --tag NAME]

For each pair it pretrains the source once (+experiment=fewshot_sources, in RUNS/sources/<name>),
then, for each size (`data.shots`) and seed:

- default: `ganxfer finetune` at its defaults, or with the `--finetune` settings (kept apart under
  `--tag`), from a source of the `--source` settings where given (sources/<name>-<tag>);
- scratch: `ganxfer finetune transfer=scratch`: random weights, the source's schema;
- own run: `ganxfer pretrain` on the same target rows alone (`data.shots`, `data.holdout` and
  `data.split_seed` pick the same rows), with a schema fitted on them, as a user without a source.

Scratch and the own run train as many steps as the default's `trainer.steps=auto` came to, or
`--steps`. Then `ganxfer evaluate ckpt=[default,scratch,own] metrics=[fd,c2st]` scores the three
in one space fitted on the real held-out rows (docs/metrics.md, "the comparison space"). Every run
is kept under RUNS/<pair>/<rows>/seed<seed>/ and reused: a tag names one setting, and a run older
than its source runs again. Two studies at once need RUNS of their own, or may train one own run.

`--pairs` also takes the tuning pairs (TUNING_PAIRS), on which alone a default may be chosen, and
the blind pair, which chose nothing: Gapminder's other continents -> Africa (plotly's, from the
peers' venv). Writes DIR/fewshot_study.csv (a row per run: steps, FD, C2ST) and .md (per pair:
mean ± sd per size, the default against each baseline, the rows the own run needs to match it)."""

import argparse
import contextlib
import io
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ganxfer import checkpoint, cli


@dataclass(frozen=True)
class Pair:
    """A source and a target: the source's folder under RUNS/sources, and each side's data settings
    (`{runs}` stands for the RUNS folder)."""
    source: str
    source_data: tuple[str, ...]
    target_data: tuple[str, ...]


GENERATED = "generated.csv"  # the generated pair's table, written into RUNS by generated_table
TAILS = "tails.csv"  # the tails pair's table, written into RUNS by tails_table
STROKES = "strokes.csv"  # the strokes pair's images, written into RUNS by strokes_table
SOURCE_STROKES, TARGET_STROKES = ("horizontal", "vertical", "plus"), ("diagonal", "x")  # kinds of strokes_table
STROKE_IMAGES = ("data=csv", f"data.path={{runs}}/{STROKES}", "data.shape=[8,8]", "data.pixel_range=[0,16]",
                 "data.label=kind")
PAIRS = {
    "digits": Pair("digits", ("data=digits",), ("data=digits_target",)),
    "health": Pair("health", ("data=health",), ("data=health_target",)),
}
TUNING_PAIRS = {
    "digits_reversed": Pair("digits59", ("data=digits", "data.classes=[5,6,7,8,9]"),
                            ("data=digits", "data.classes=[0,1,2,3,4]")),
    "charleston": Pair("health", ("data=health",), ("data=health_target", "data.classes=[Charleston]")),
    "generated": Pair("generated",
                      ("data=csv", f"data.path={{runs}}/{GENERATED}", "data.label=region", "data.classes=[north]"),
                      ("data=csv", f"data.path={{runs}}/{GENERATED}", "data.label=region", "data.classes=[south]")),
    "tails": Pair("tails",
                  ("data=csv", f"data.path={{runs}}/{TAILS}", "data.label=region", "data.classes=[wide]"),
                  ("data=csv", f"data.path={{runs}}/{TAILS}", "data.label=region", "data.classes=[narrow]")),
    "strokes": Pair("strokes", (*STROKE_IMAGES, f"data.classes=[{','.join(SOURCE_STROKES)}]"),
                    (*STROKE_IMAGES, f"data.classes=[{','.join(TARGET_STROKES)}]")),
}
GAPMINDER = "gapminder.csv"  # the blind pair's table, written into RUNS by gapminder_table
BLIND_PAIRS = {
    "gapminder": Pair("gapminder",
                      ("data=csv", f"data.path={{runs}}/{GAPMINDER}", "data.label=continent",
                       "data.classes=[Americas,Asia,Europe,Oceania]"),
                      ("data=csv", f"data.path={{runs}}/{GAPMINDER}", "data.label=continent", "data.classes=[Africa]")),
}
EVERY_PAIR = {**PAIRS, **TUNING_PAIRS, **BLIND_PAIRS}
RUNS = ("default", "own", "scratch")  # the table's order: the default, then its two baselines
BASELINES = ("own", "scratch")
METRICS = {"fd": "fd", "c2st": "c2st_accuracy"}  # the table's column: the key of evaluate's record


def generated_table() -> pd.DataFrame:
    """A made-up population in two regions, 4,000 people in the north and 1,000 in the south, who
    are older, poorer and see doctors more: ages, a skewed income, visits counted, spending that
    follows the visits (zero without any), and a plan that follows income."""
    rng = np.random.default_rng(0)

    def region(name: str, people: int, age: float, log_income: float, visit_rate: float) -> pd.DataFrame:
        ages = rng.normal(age, 12, people).clip(18, 90).round(1)
        incomes = rng.lognormal(log_income, 0.6, people).round(0)
        visits = rng.poisson(visit_rate * (1 + ages / 50))
        spending = (visits * rng.gamma(2.0, 60.0, people)).round(2)
        richer = rng.random(people) < 1 / (1 + np.exp(-(np.log(incomes) - log_income) * 2))
        plans = np.where(richer, rng.choice(["basic", "full"], people, p=[0.4, 0.6]),
                         rng.choice(["none", "basic"], people, p=[0.5, 0.5]))
        return pd.DataFrame({"region": name, "age": ages, "income": incomes, "doctor_visits": visits,
                             "spending": spending, "plan": plans})

    return pd.concat([region("north", 4000, 38, 10.0, 2.0), region("south", 1000, 52, 9.4, 3.5)],
                     ignore_index=True)


def tails_table() -> pd.DataFrame:
    """Towns in two regions: 4,000 in a wide one, whose sizes spread over six orders of magnitude
    (a few cities of millions), and 1,000 in a narrow one, none above some tens of thousands; shops
    follow the size, earnings grow a little with it, and big places are called cities. A target
    that fills a small part of its source's heavy-tailed range."""
    rng = np.random.default_rng(1)

    def region(name: str, towns: int, log_size: float, spread: float, age: float) -> pd.DataFrame:
        sizes = rng.lognormal(log_size, spread, towns).round(0)
        shops = rng.poisson(sizes / 500 + 1)
        ages = rng.normal(age, 10, towns).clip(18, 95).round(1)
        earnings = (rng.lognormal(10, 0.5, towns) * (1 + np.log(sizes) / 20)).round(0)
        kind = np.where(sizes > np.exp(log_size + spread), "city", rng.choice(["village", "town"], towns))
        return pd.DataFrame({"region": name, "town_size": sizes, "shops": shops, "age": ages,
                             "earnings": earnings, "kind": kind})

    return pd.concat([region("wide", 4000, 9.0, 1.8, 40), region("narrow", 1000, 8.0, 0.8, 45)],
                     ignore_index=True)


STROKE_DIRECTIONS = {"horizontal": (0, 1), "vertical": (1, 0), "falling": (1, 1), "rising": (-1, 1)}
STROKE_KINDS = {  # each kind of image: the sets of strokes through one centre that it may draw
    "horizontal": [("horizontal",)], "vertical": [("vertical",)], "plus": [("horizontal", "vertical")],
    "diagonal": [("falling",), ("rising",)], "x": [("falling", "rising")],
}


def strokes_table() -> pd.DataFrame:
    """8x8 images of strokes on a dark background, one pixel a column (pixel0 to pixel63) with
    values 0-16 as in the bundled digits, which it does not read, and the image's `kind`: 4,000 of
    horizontal bars, vertical bars and plus signs (the source), and 1,000 of the same strokes
    turned by 45 degrees (the target): diagonals, rising or falling, and x's. Each image has its
    own centre, stroke length and thickness (1 or 2 pixels), each stroke its own brightness, and
    every pixel a little noise."""
    rng = np.random.default_rng(2)

    def stroke(direction: str, centre: np.ndarray, arm: int, thickness: int) -> np.ndarray:
        """A line's pixels, `arm` pixels either side of the centre, doubled one pixel across
        (downwards for a horizontal one, else sideways) when thick; what falls off the image is cut."""
        pixels = centre + np.arange(-arm, arm + 1)[:, None] * np.array(STROKE_DIRECTIONS[direction])
        if thickness == 2:
            pixels = np.concatenate([pixels, pixels + ((1, 0) if direction == "horizontal" else (0, 1))])
        return pixels[((pixels >= 0) & (pixels < 8)).all(axis=1)]

    def image(kind: str) -> np.ndarray:
        centre, arm, thickness = rng.integers(1, 7, 2), rng.integers(2, 4), rng.integers(1, 3)
        choices = STROKE_KINDS[kind]
        picture = rng.normal(0, 1, (8, 8))
        for direction in choices[rng.integers(len(choices))]:
            rows, columns = stroke(direction, centre, arm, thickness).T
            picture[rows, columns] += rng.integers(10, 17)
        return picture.clip(0, 16).round().astype(np.int64).ravel()

    kinds = np.concatenate([rng.choice(SOURCE_STROKES, 4000), rng.choice(TARGET_STROKES, 1000)])
    table = pd.DataFrame([image(kind) for kind in kinds], columns=[f"pixel{i}" for i in range(64)])
    return table.assign(kind=kinds)


def gapminder_table(path: Path) -> None:
    """Gapminder as plotly ships it, without the country's name and codes (they name the row, they
    are not a quantity to generate): continent, year, life expectancy, population, GDP per head and
    the country's centroid. Written by the peers' Python: plotly is not one of ganxfer's packages."""
    from against_peers import peer_python

    script = ("import sys, plotly.data; plotly.data.gapminder(centroids=True)"
              ".drop(columns=['country', 'iso_alpha', 'iso_num']).to_csv(sys.argv[1], index=False)")
    subprocess.run([str(peer_python()), "-c", script, str(path)], check=True)


def ganxfer(*args: str) -> None:
    """An in-process ganxfer command, without its progress bars; a failure ends the study."""
    argv = sys.argv
    sys.argv = ["ganxfer"]  # Hydra reads it, as the console script would have set it
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            status = cli.main(list(args))
    finally:
        sys.argv = argv
    if status:
        raise SystemExit(f"ganxfer {' '.join(args)} failed ({status})")


def trained(folder: Path, steps: int | None = None, source: Path | None = None) -> Path | None:
    """The last checkpoint of a finished run in `folder` (of `steps` steps, and written after
    `source`, the checkpoint it started from, when given), or None."""
    last = folder / "checkpoints" / "last.ckpt"
    if not (last.exists() and (folder / "metrics.json").exists()):
        return None
    if source is not None and last.stat().st_mtime < source.stat().st_mtime:
        return None  # a run from an earlier source of the same name
    return last if steps is None or checkpoint.load(last)["step"] == steps else None


def data_settings(settings: tuple[str, ...], runs: Path) -> list[str]:
    return [setting.format(runs=runs.resolve()) for setting in settings]


def source(runs: Path, pair: Pair, steps: int, threads: str, settings: list[str], tag: str) -> Path:
    """The pair's source, pretrained once at `steps` and reused (an earlier one of other steps is
    not); with settings of its own, kept under the tag."""
    folder = runs / "sources" / (f"{pair.source}-{tag}" if settings else pair.source)
    if trained(folder, steps) is None:
        ganxfer("pretrain", "+experiment=fewshot_sources", *data_settings(pair.source_data, runs), *settings,
                f"trainer.steps={steps}", f"trainer.threads={threads}", f"hydra.run.dir={folder}")
    return folder / "checkpoints" / "last.ckpt"


def one_case(folder: Path, source_ckpt: Path, target: list[str], shots: int, seed: int, steps: int | None,
             threads: str, finetune: list[str], tag: str, own_source: bool) -> pd.DataFrame:
    """The three runs at one size and seed, and their scores in the real rows' space. The
    finetune's folder and its evaluation carry the tag; scratch's and the own run's the number of
    steps, which is all they share with it (scratch also the tag, from a source of its own)."""
    common = [*target, f"data.shots={shots}", f"seed={seed}", f"trainer.threads={threads}",
              "trainer.ckpt_every=100000"]
    default = folder / tag
    scored = folder / f"evaluate-{tag}"
    if trained(default, steps, source_ckpt) is None:
        ganxfer("finetune", f"ckpt={source_ckpt}", *common, *([f"trainer.steps={steps}"] if steps else []),
                *finetune, f"hydra.run.dir={default}")
    steps = checkpoint.load(trained(default))["step"]  # what trainer.steps=auto came to
    baselines = {"own": ["pretrain"], "scratch": ["finetune", f"ckpt={source_ckpt}", "transfer=scratch"]}
    folders = {"default": default, "own": folder / f"own-{steps}",
               "scratch": folder / (f"scratch-{steps}-{tag}" if own_source else f"scratch-{steps}")}
    for run, command in baselines.items():
        if trained(folders[run], source=source_ckpt if run == "scratch" else None) is None:
            ganxfer(*command, *common, f"trainer.steps={steps}", f"hydra.run.dir={folders[run]}")
    checkpoints = [folders[run] / "checkpoints" / "last.ckpt" for run in RUNS]
    scores = scored / "metrics.json"
    if not scores.exists() or any(path.stat().st_mtime > scores.stat().st_mtime for path in checkpoints):
        shutil.rmtree(scored, ignore_errors=True)  # an evaluation of earlier runs
        paths = ",".join(f"'{path}'" for path in checkpoints)
        ganxfer("evaluate", f"ckpt=[{paths}]", "metrics=[fd,c2st]", f"trainer.threads={threads}",
                f"hydra.run.dir={scored}")
    records = pd.read_json(scored / "metrics.json")
    return pd.DataFrame({"rows": shots, "seed": seed, "run": list(RUNS), "steps": steps,
                         **{column: records[key] for column, key in METRICS.items()}})


def study(runs: Path, pairs: list[str], shots: list[int], seeds: list[int], steps: int | None, source_steps: int,
          threads: str, finetune: list[str], tag: str, source_settings: list[str]) -> pd.DataFrame:
    """One row per run: pair, rows, seed, run, steps, fd, c2st."""
    runs.mkdir(parents=True, exist_ok=True)
    if "generated" in pairs and not (runs / GENERATED).exists():
        generated_table().to_csv(runs / GENERATED, index=False)
    if "tails" in pairs and not (runs / TAILS).exists():
        tails_table().to_csv(runs / TAILS, index=False)
    if "strokes" in pairs and not (runs / STROKES).exists():
        strokes_table().to_csv(runs / STROKES, index=False)
    if "gapminder" in pairs and not (runs / GAPMINDER).exists():
        gapminder_table(runs / GAPMINDER)
    cases = []
    for name in pairs:
        pair = EVERY_PAIR[name]
        source_ckpt = source(runs, pair, source_steps, threads, source_settings, tag)
        for size in shots:
            for seed in seeds:
                case = one_case(runs / name / str(size) / f"seed{seed}", source_ckpt,
                                data_settings(pair.target_data, runs), size, seed, steps, threads, finetune, tag,
                                bool(source_settings))
                cases.append(case.assign(pair=name))
                print(f"{name}, {size} rows, seed {seed}: " +
                      ", ".join(f"{run} FD {fd:.3f}" for run, fd in zip(case["run"], case["fd"])), flush=True)
    table = pd.concat(cases, ignore_index=True)
    return table[["pair", "rows", "seed", "run", "steps", *METRICS]]


def load() -> str:
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


def summary(results: pd.DataFrame) -> pd.DataFrame:
    """Per pair, size and run: mean and sd over seeds of each metric, and the seeds counted."""
    grouped = results.groupby(["pair", "rows", "run"])
    table = grouped[list(METRICS)].agg(["mean", "std"])
    table.columns = [f"{metric}_{stat}" for metric, stat in table.columns]
    return table.assign(seeds=grouped.size()).reset_index()


def difference(value: float, baseline: float) -> float:
    """The default's difference from a baseline as a share of the baseline's (below zero: the
    default is better, for FD and for C2ST accuracy alike)."""
    return (value - baseline) / baseline


def rows_to_match(own_fd: pd.Series, goal: float) -> str:
    """How many rows the own run needs to do as well as `goal` (the default's mean FD on the
    fewest rows), bracketed by the sizes run (`own_fd`: the own run's mean FD, indexed by size):
    "at most 10", "more than 10, at most 50", or "more than 200" when it never gets there. Only
    the sizes run are known: the own run on 50 rows doing better says that 10 rows with the
    default are worth fewer than 50 of its own, not 50."""
    own_fd = own_fd.sort_index()
    enough = own_fd.index[own_fd <= goal]
    if not len(enough):
        return f"more than {own_fd.index.max()}"
    fewest_enough = enough.min()
    fewer = own_fd.index[own_fd.index < fewest_enough]
    return f"at most {fewest_enough}" if not len(fewer) else f"more than {fewer.max()}, at most {fewest_enough}"


def signed(share: float) -> str:
    """+12% or −12%, with a true minus."""
    return f"{share:+.0%}".replace("-", "−")


def spread(mean: float, sd: float, digits: int) -> str:
    return f"{mean:.{digits}f}" if pd.isna(sd) else f"{mean:.{digits}f} ± {sd:.{digits}f}"


def pair_table(means: pd.DataFrame) -> list[str]:
    """One pair's markdown table (one row per size) and the rows the own run needs to match the
    default on the fewest."""
    lines = ["| rows | FD: default | own run | scratch | default vs own | default vs scratch "
             "| C2ST: default | own run | scratch | default vs own | default vs scratch |",
             "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for size, at_size in means.groupby("rows"):
        runs = at_size.set_index("run")
        cells = [str(size)]
        for metric, digits in (("fd", 3), ("c2st", 2)):
            cells += [spread(runs.loc[run, f"{metric}_mean"], runs.loc[run, f"{metric}_std"], digits) for run in RUNS]
            cells += [signed(difference(runs.loc["default", f"{metric}_mean"], runs.loc[baseline, f"{metric}_mean"]))
                      for baseline in BASELINES]
        lines.append("| " + " | ".join(cells) + " |")
    own = means[means["run"] == "own"].set_index("rows")["fd_mean"].sort_index()
    default = means[means["run"] == "default"].set_index("rows")["fd_mean"].sort_index()
    fewest = default.index.min()
    lines += ["", f"The own run needs {rows_to_match(own, default[fewest])} rows to reach the FD of the default on "
                  f"{fewest} ({default[fewest]:.3f}), of the sizes run."]
    return lines


def markdown(results: pd.DataFrame, command: str) -> str:
    means = summary(results)
    seeds = sorted(results["seed"].unique())
    steps = ", ".join(f"{size} rows: {count}" for size, count in
                      results.groupby("rows")["steps"].first().items())
    lines = [f"`{command}`", "",
             f"Mean ± sd over seeds {', '.join(map(str, seeds))}; steps per run ({steps}). Every FD and C2ST "
             "accuracy by `ganxfer evaluate`, in one space fitted on the real held-out rows; lower is better "
             "(C2ST: 0.5 is ideal). `default vs own`: (default − own) / own; below zero the default is better."]
    for pair, rows in means.groupby("pair", sort=False):
        lines += ["", f"**{pair}**", "", *pair_table(rows)]
    return "\n".join(lines)


def main(argv=None) -> str:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="folder for fewshot_study.csv and .md")
    parser.add_argument("--runs", type=Path, default=Path("outputs/fewshot"),
                        help="folder of the sources and runs, reused where already there")
    parser.add_argument("--pairs", default=",".join(PAIRS),
                        help=f"comma-separated: {', '.join(PAIRS)}; the tuning pairs {', '.join(TUNING_PAIRS)}; "
                             f"the blind pair {', '.join(BLIND_PAIRS)}")
    parser.add_argument("--shots", type=int, nargs="+", default=[10, 50, 200], help="target training rows")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--steps", type=int, default=None, help="every run's steps (default: the finetune's auto)")
    parser.add_argument("--source-steps", type=int, default=10_000)
    parser.add_argument("--threads", default="1", help="trainer.threads of every run")
    parser.add_argument("--finetune", nargs="*", default=[], help="settings of the default finetune to try instead")
    parser.add_argument("--source", nargs="*", default=[], help="settings of the sources' pretrain to try instead")
    parser.add_argument("--tag", default="default", help="the name its runs are kept under, with --finetune or --source")
    parser.add_argument("--quick", action="store_true",
                        help="checks that it runs: digits, 10 and 50 rows, seed 0, 20 steps, in a folder of --out")
    args = parser.parse_args(argv)
    if args.quick:
        args.pairs, args.shots, args.seeds, args.steps, args.source_steps = "digits", [10, 50], [0], 20, 20
        args.runs = args.out / "runs"
    pairs = args.pairs.split(",")
    unknown = [pair for pair in pairs if pair not in EVERY_PAIR]
    if unknown:
        parser.error(f"unknown pair(s) {', '.join(unknown)}; choose from {', '.join(EVERY_PAIR)}")
    if (args.finetune or args.source) and args.tag == "default":
        parser.error("--finetune and --source settings need a --tag of their own, so that the default's runs stay apart")
    load_before = load()
    results = study(args.runs, pairs, sorted(args.shots), args.seeds, args.steps, args.source_steps, args.threads,
                    args.finetune, args.tag, args.source)
    args.out.mkdir(parents=True, exist_ok=True)
    results.to_csv(args.out / "fewshot_study.csv", index=False)
    command = "python benchmarks/fewshot_study.py " + " ".join(argv if argv is not None else sys.argv[1:])
    machine_load = (f"Load average (1, 5, 15 min): {load_before} before this command, {load()} after "
                    f"(runs it found in {args.runs} were reused, not run again).")
    text = f"{markdown(results, command)}\n\n{machine_load}"
    (args.out / "fewshot_study.md").write_text(text + "\n")
    print(text)
    return text


if __name__ == "__main__":
    main()
