"""The few-shot study against what a user without a source would run: on each bundled pair, at each
size and seed, the default finetune, `transfer=scratch` and the target's own run, all scored in
one space fitted on the real held-out rows.

    python benchmarks/fewshot_study.py --out DIR [--pairs digits,health] [--shots 10 50 200] [--seeds 0 1 2]
                                       [--steps N] [--source-steps 10000] [--runs outputs/fewshot] [--quick]
                                       [--finetune KEY=VALUE ... --source KEY=VALUE ... --tag NAME]
                                       [--source-seeds 0 1 2]

For each pair it pretrains the source once (+experiment=fewshot_sources, in RUNS/sources/<name>;
with `--source-seeds`, once per seed, as sources/<name>-src<seed> but for seed 0), then, for each
source, size (`data.shots`) and seed:

- default: `ganxfer finetune` at its defaults, or with the `--finetune` settings (kept apart under
  `--tag`), from a source of the `--source` settings where given (sources/<name>-<tag>);
- scratch: `ganxfer finetune transfer=scratch`: random weights, the source's schema;
- own run: `ganxfer pretrain` on the same target rows alone (`data.shots`, `data.holdout` and
  `data.split_seed` pick the same rows), with a schema fitted on them, as a user without a source.

Scratch and the own run train as many steps as the default's `trainer.steps=auto` came to, or
`--steps`. Then `ganxfer evaluate ckpt=[default,scratch,own] metrics=[fd,c2st]` scores the three
in one space fitted on the real held-out rows (docs/metrics.md, "the comparison space"). Every run
is kept under RUNS/<pair>/<rows>/seed<seed>/ and reused: a tag names one setting, and a run older
than its source runs again. A run made before a default of ganxfer changed is reused as it was:
after such a change, give RUNS anew or move the default's runs aside (docs/transfer.md keeps the
runs of the pull before `transfer.lambda_g=auto` under the tag `lam100`). Two studies at once need
RUNS of their own, or may train one own run.

`--pairs` also takes the tuning pairs (TUNING_PAIRS), on which alone a default may be chosen, and
the blind pair, which chose nothing: Gapminder's other continents -> Africa (plotly's, from the
peers' venv). Writes DIR/fewshot_study.csv (a row per run: steps, FD, C2ST) and .md (per pair:
mean ± sd per size, the default against each baseline, the rows the own run needs to match it)."""

import argparse
import contextlib
import io
import os
import re
import shutil
import sys
from pathlib import Path

import pandas as pd

from fewshot_pairs import BLIND_PAIRS, EVERY_PAIR, PAIRS, TUNING_PAIRS, Pair, write_tables
from ganxfer import checkpoint, cli

RUNS = ("default", "own", "scratch")  # the table's order: the default, then its two baselines
BASELINES = ("own", "scratch")
METRICS = {"fd": "fd", "c2st": "c2st_accuracy"}  # the table's column: the key of evaluate's record


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
          threads: str, finetune: list[str], tag: str, source_settings: list[str],
          source_seeds: list[int] = (0,)) -> pd.DataFrame:
    """One row per run: pair, source (the seed its source was pretrained with), rows, seed, run,
    steps, fd, c2st."""
    runs.mkdir(parents=True, exist_ok=True)
    write_tables(runs, pairs)
    cases = []
    for name in pairs:
        pair = EVERY_PAIR[name]
        for source_seed in source_seeds:
            settings = [*source_settings, f"seed={source_seed}"] if source_seed else source_settings
            runs_tag = tagged(tag, source_seed)
            # A tag of --finetune settings alone shares the default's sources.
            source_ckpt = source(runs, pair, source_steps, threads, settings,
                                 tagged(tag if source_settings else "default", source_seed))
            for size in shots:
                for seed in seeds:
                    case = one_case(runs / name / str(size) / f"seed{seed}", source_ckpt,
                                    data_settings(pair.target_data, runs), size, seed, steps, threads, finetune,
                                    runs_tag, bool(settings))
                    cases.append(case.assign(pair=name, source=source_seed))
                    print(f"{name}, source {source_seed}, {size} rows, seed {seed}: " +
                          ", ".join(f"{run} FD {fd:.3f}" for run, fd in zip(case["run"], case["fd"])), flush=True)
    table = pd.concat(cases, ignore_index=True)
    return table[["pair", "source", "rows", "seed", "run", "steps", *METRICS]]


def tagged(tag: str, source_seed: int) -> str:
    """The tag of the runs from the source pretrained with `source_seed`: the study's own for 0 (the
    default pretrain); else src<seed>, after the study's tag where it has one of its own."""
    if not source_seed:
        return tag
    return f"src{source_seed}" if tag == "default" else f"{tag}-src{source_seed}"


def load() -> str:
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


def summary(results: pd.DataFrame) -> pd.DataFrame:
    """Per pair, size and run: mean and sd over seeds (and sources) of each metric, and the runs
    counted. A run that gives the same scores from every source is counted once: the own run, which
    has none, and scratch, which takes only the source's schema (the same for every pretrain seed)."""
    if "source" in results:  # the own run, and scratch where the source's schema is the same, repeat
        results = results.drop_duplicates(["pair", "rows", "seed", "run", "steps", *METRICS])
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
    seeds = ", ".join(map(str, sorted(results["seed"].unique())))
    sources = sorted(results["source"].unique()) if "source" in results else [0]
    over = f"seeds {seeds}"
    if len(sources) > 1:
        over = f"the sources pretrained with seeds {', '.join(map(str, sources))} and, from each, seeds {seeds}"
    steps = ", ".join(f"{size} rows: {count}" for size, count in
                      results.groupby("rows")["steps"].first().items())
    lines = [f"`{command}`", "",
             f"Mean ± sd over {over}; steps per run ({steps}). Every FD and C2ST "
             "accuracy by `ganxfer evaluate`, in one space fitted on the real held-out rows; lower is better "
             "(C2ST: 0.5 is ideal). `default vs own`: (default − own) / own; below zero the default is better."]
    for pair, rows in means.groupby("pair", sort=False):
        lines += ["", f"**{pair}**", "", *pair_table(rows)]
        if len(sources) > 1:
            lines += ["", from_each_source(results[results["pair"] == pair])]
    return "\n".join(lines)


def from_each_source(results: pd.DataFrame) -> str:
    """The default's mean FD at each size from each source: how much its pretrain moves it."""
    default = results[results["run"] == "default"].pivot_table(index="rows", columns="source", values="fd")
    sizes = [f"{size} rows {' / '.join(f'{value:.3f}' for value in means)}" for size, means in default.iterrows()]
    return f"The default's mean FD from each source ({' / '.join(map(str, default.columns))}): {'; '.join(sizes)}."


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
    parser.add_argument("--source-seeds", type=int, nargs="+", default=[0],
                        help="pretrain each source with each of these seeds (0: the default pretrain; N: "
                             "sources/<name>-srcN) and run the study from every one")
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
    seed_tag = re.search(r"(^|-)src(\d+)$", args.tag)
    if seed_tag and args.source != [f"seed={seed_tag.group(2)}"]:
        parser.error(f"--tag {args.tag}: a name ending in srcN is that of the runs from a source pretrained "
                     f"with seed N alone (--source-seeds names them so)")
    load_before = load()
    results = study(args.runs, pairs, sorted(args.shots), args.seeds, args.steps, args.source_steps, args.threads,
                    args.finetune, args.tag, args.source, args.source_seeds)
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
