"""The few-shot study against what a user without a source would run: on each bundled pair, at each
size and seed, the default finetune, `transfer=scratch` and the target's own run, all scored in
one space fitted on the real held-out rows.

    python benchmarks/fewshot_study.py --out DIR [--pairs digits,health] [--shots 10 50 200] [--seeds 0 1 2]
                                       [--steps N] [--source-steps 10000] [--runs outputs/fewshot] [--quick]

For each pair it pretrains the source once (+experiment=fewshot_sources: in RUNS/sources/<name>,
kept and reused), then, for each size (`data.shots`) and seed:

- default: `ganxfer finetune` at its defaults (transfer=l2sp, trainer.steps=auto);
- scratch: `ganxfer finetune transfer=scratch`: random weights, but the source's schema (number
  ranges fitted on the source, the source's encodings);
- own run: `ganxfer pretrain` on the target rows alone, with a schema fitted on them, as a user
  without a source would train; the same `data.shots`, `data.holdout` and `data.split_seed` pick
  the same training and held-out rows as the finetune's.

Scratch and the own run train as many steps as the default's `trainer.steps=auto` came to (read
from its checkpoint), or `--steps`. Then `ganxfer evaluate ckpt=[default,scratch,own]
metrics=[fd,c2st]` scores the three against the finetune's held-out rows, every distance in the
space fitted on those rows (docs/metrics.md, "the comparison space"). Every run and evaluation is
kept under RUNS/<pair>/<rows>/seed<seed>/: a study stopped half way carries on where it stopped.

Writes DIR/fewshot_study.csv (one row per run: its steps, FD and C2ST accuracy) and
DIR/fewshot_study.md (a table per pair: mean ± sd over seeds per size, the default's difference
from each baseline, and how many rows the own run needs to do as well as the default on the
fewest)."""

import argparse
import contextlib
import io
import sys
from pathlib import Path

import pandas as pd

from ganxfer import checkpoint, cli

PAIRS = {"digits": ("digits", "digits_target"), "health": ("health", "health_target")}
RUNS = ("default", "own", "scratch")  # the table's order: the default, then its two baselines
BASELINES = ("own", "scratch")
NAMES = {"default": "default finetune (l2sp)", "own": "own run (pretrain on the target)",
         "scratch": "scratch (the source's schema)"}
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


def trained(folder: Path) -> Path | None:
    """The last checkpoint of a finished run in `folder`, or None."""
    last = folder / "checkpoints" / "last.ckpt"
    return last if last.exists() and (folder / "metrics.json").exists() else None


def source(runs: Path, name: str, steps: int, threads: str) -> Path:
    """The pair's source, pretrained once at `steps` and reused (an earlier one of other steps is not)."""
    folder = runs / "sources" / name
    last = trained(folder)
    if last is None or checkpoint.load(last)["step"] != steps:
        ganxfer("pretrain", "+experiment=fewshot_sources", f"data={name}", f"trainer.steps={steps}",
                f"trainer.threads={threads}", f"hydra.run.dir={folder}")
    return folder / "checkpoints" / "last.ckpt"


def one_case(folder: Path, source_ckpt: Path, target: str, shots: int, seed: int, steps: int | None,
             threads: str) -> pd.DataFrame:
    """The three runs at one size and seed, and their scores in the real rows' space."""
    common = [f"data={target}", f"data.shots={shots}", f"seed={seed}", f"trainer.threads={threads}",
              "trainer.ckpt_every=100000"]
    if trained(folder / "default") is None:
        ganxfer("finetune", f"ckpt={source_ckpt}", *common, *([f"trainer.steps={steps}"] if steps else []),
                f"hydra.run.dir={folder / 'default'}")
    steps = checkpoint.load(trained(folder / "default"))["step"]  # what trainer.steps=auto came to
    commands = {"scratch": ["finetune", f"ckpt={source_ckpt}", "transfer=scratch"], "own": ["pretrain"]}
    for run, command in commands.items():
        if trained(folder / run) is None:
            ganxfer(*command, *common, f"trainer.steps={steps}", f"hydra.run.dir={folder / run}")
    scored = folder / "evaluate"
    if not (scored / "metrics.json").exists():
        paths = ",".join(f"'{folder / run / 'checkpoints' / 'last.ckpt'}'" for run in RUNS)
        ganxfer("evaluate", f"ckpt=[{paths}]", "metrics=[fd,c2st]", f"trainer.threads={threads}",
                f"hydra.run.dir={scored}")
    records = pd.read_json(scored / "metrics.json")
    return pd.DataFrame({"rows": shots, "seed": seed, "run": list(RUNS), "steps": steps,
                         **{column: records[key] for column, key in METRICS.items()}})


def study(runs: Path, pairs: list[str], shots: list[int], seeds: list[int], steps: int | None, source_steps: int,
          threads: str) -> pd.DataFrame:
    """One row per run: pair, rows, seed, run, steps, fd, c2st."""
    cases = []
    for pair in pairs:
        source_name, target = PAIRS[pair]
        source_ckpt = source(runs, source_name, source_steps, threads)
        for size in shots:
            for seed in seeds:
                case = one_case(runs / pair / str(size) / f"seed{seed}", source_ckpt, target, size, seed, steps,
                                threads)
                cases.append(case.assign(pair=pair))
                print(f"{pair}, {size} rows, seed {seed}: " +
                      ", ".join(f"{run} FD {fd:.3f}" for run, fd in zip(case["run"], case["fd"])), flush=True)
    table = pd.concat(cases, ignore_index=True)
    return table[["pair", "rows", "seed", "run", "steps", *METRICS]]


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
    """The fewest rows, of the sizes run, on which the own run's mean FD (`own_fd`, indexed by
    size) is at or below `goal` (the default's on the fewest rows); "more than N" (the largest
    size) when it never gets there."""
    enough = own_fd.index[own_fd <= goal]
    return f"{enough.min()}" if len(enough) else f"more than {own_fd.index.max()}"


def signed(share: float) -> str:
    """+12% or −12%, with a true minus."""
    return f"{share:+.0%}".replace("-", "−")


def spread(mean: float, sd: float, digits: int) -> str:
    return f"{mean:.{digits}f}" if pd.isna(sd) else f"{mean:.{digits}f} ± {sd:.{digits}f}"


def pair_table(means: pd.DataFrame) -> list[str]:
    """One pair's markdown table (one row per size) and the rows the own run needs."""
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
    lines += ["", f"{fewest} rows with the default ≈ the own run on {rows_to_match(own, default[fewest])} rows (FD)."]
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
    parser.add_argument("--pairs", default=",".join(PAIRS), help=f"comma-separated: {', '.join(PAIRS)}")
    parser.add_argument("--shots", type=int, nargs="+", default=[10, 50, 200], help="target training rows")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--steps", type=int, default=None, help="every run's steps (default: the finetune's auto)")
    parser.add_argument("--source-steps", type=int, default=10_000)
    parser.add_argument("--threads", default="1", help="trainer.threads of every run")
    parser.add_argument("--quick", action="store_true",
                        help="checks that the study runs: digits, 10 and 50 rows, seed 0, 20 steps, in a folder of --out")
    args = parser.parse_args(argv)
    if args.quick:
        args.pairs, args.shots, args.seeds, args.steps, args.source_steps = "digits", [10, 50], [0], 20, 20
        args.runs = args.out / "runs"
    pairs = args.pairs.split(",")
    unknown = [pair for pair in pairs if pair not in PAIRS]
    if unknown:
        parser.error(f"unknown pair(s) {', '.join(unknown)}; choose from {', '.join(PAIRS)}")
    results = study(args.runs, pairs, sorted(args.shots), args.seeds, args.steps, args.source_steps, args.threads)
    args.out.mkdir(parents=True, exist_ok=True)
    results.to_csv(args.out / "fewshot_study.csv", index=False)
    command = "python benchmarks/fewshot_study.py " + " ".join(argv if argv is not None else sys.argv[1:])
    text = markdown(results, command)
    (args.out / "fewshot_study.md").write_text(text + "\n")
    print(text)
    return text


if __name__ == "__main__":
    main()
