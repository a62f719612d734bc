"""Can a target's training rows tell how much of its source a finetune should keep? Signals read
from the training rows alone, set beside what the few-shot study (fewshot_study.py) measured on
the held-out rows, for runs the study has already made in RUNS:

    python benchmarks/source_signals.py --out DIR [--runs outputs/fewshot] [--pairs ...] [--seeds 0 1]
                                        [--source-seeds 0 1 2] [--pick TAG]

For each pair, source and size (the training rows are the same for every seed):

- fd ratio: the Fréchet distance between 2,000 of the source's samples and the training rows,
  over the mean distance between two random halves of the training rows (their own sampling
  noise), in a space fitted on the training rows;
- nn ratio: the 90th percentile of a training row's distance to its nearest source sample, over
  the same for 1,000 of the source's own samples against 3,000 others, in a space fitted on the
  source's samples: how far the target lies outside what the source generates;
- the default finetune against the own run (held-out FD, mean over seeds), as the study scored it.

With `--pick TAG` (a study run with `--finetune ... --tag TAG`), at 50 and 200 rows: the default
and TAG's finetunes each run again, with the settings they were given, on four fifths of the
training rows (`data.shots`, whose rows are among the whole size's), scored by FD on the fifth
held back, in the training rows' space; the one scoring lower is the pick, and its FD on the
held-out rows (its whole-size run's) is set beside both. Writes DIR/source_signals.csv and .md."""

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
from omegaconf import OmegaConf
from sklearn.neighbors import NearestNeighbors

from fewshot_pairs import EVERY_PAIR, TUNING_PAIRS, write_tables
from fewshot_study import ganxfer, tagged, trained
from ganxfer import checkpoint
from ganxfer.data import Schema
from ganxfer.metrics import frechet_distance
from ganxfer.settings import group_from_saved
from ganxfer.stages.evaluate import comparison_space, loaded, recorded_rows, synthetic_rows

SOURCE_SAMPLES = 4000  # the nn ratio's: 3,000 to search, 1,000 to ask
HALVES = 20  # random halves of the training rows averaged for their own noise
TABLES: dict = {}  # each data file's rows, read once for every size, seed and pick (evaluate.loaded's cache)


def fd_ratio(source_rows: pd.DataFrame, train: pd.DataFrame, space, seed: int = 0) -> float:
    """FD(source samples, training rows) over the mean FD between halves of the training rows."""
    rng = np.random.default_rng(seed)
    half = len(train) // 2
    noise = np.mean([frechet_distance(space(train.iloc[order[:half]]), space(train.iloc[order[half:]]))
                     for order in (rng.permutation(len(train)) for _ in range(HALVES))])
    return frechet_distance(space(train), space(source_rows)) / noise


def nn_ratio(source_rows: pd.DataFrame, train: pd.DataFrame, space) -> float:
    """90th percentile of the training rows' nearest-source-sample distances over that of the
    source's own held-apart samples."""
    searched, asked = source_rows.iloc[:len(source_rows) * 3 // 4], source_rows.iloc[len(source_rows) * 3 // 4:]
    nearest = NearestNeighbors(n_neighbors=1).fit(space(searched))
    distance = {name: nearest.kneighbors(space(rows))[0][:, 0] for name, rows in (("train", train), ("own", asked))}
    return float(np.quantile(distance["train"], 0.9) / np.quantile(distance["own"], 0.9))


def held_out_fd(cell: Path, tag: str) -> dict:
    """The study's scores of one cell: the finetune of `tag` (the first checkpoint evaluated) and
    the own run (the second)."""
    records = json.loads((cell / f"evaluate-{tag}" / "metrics.json").read_text())
    return {"finetune": records[0]["fd"], "own": records[1]["fd"]}


def training_rows(state: dict) -> tuple[pd.DataFrame, pd.DataFrame, object]:
    """(the training rows, the whole table, the data settings) a checkpoint's run recorded."""
    data = group_from_saved("data", state["config"]["data"])
    table = loaded(data, TABLES, checkpoint.domain(state))
    return recorded_rows(state, table, "train_rows"), table, data


def signals(runs: Path, pair_name: str, source_seed: int, sizes: list[int], seeds: list[int]) -> list[dict]:
    pair = EVERY_PAIR[pair_name]
    tag = tagged("default", source_seed)
    folder = runs / "sources" / (pair.source if not source_seed else f"{pair.source}-src{source_seed}")
    source = checkpoint.load(folder / "checkpoints" / "last.ckpt", "cpu")
    generated = synthetic_rows(source, Schema.from_dict(source["schema"]), SOURCE_SAMPLES, 0, "cpu")
    rows = []
    for size in sizes:
        cells = [runs / pair_name / str(size) / f"seed{seed}" for seed in seeds]
        train, table, data = training_rows(checkpoint.load(cells[0] / tag / "checkpoints" / "last.ckpt", "cpu"))
        train = train[[name for name in train.columns if name in generated.columns]]
        scores = pd.DataFrame([held_out_fd(cell, tag) for cell in cells]).mean()
        rows.append({"pair": pair_name, "source": source_seed, "rows": size,
                     "fd_ratio": fd_ratio(generated, train, comparison_space(data, table, train)),
                     "nn_ratio": nn_ratio(generated, train, comparison_space(data, table, generated[train.columns])),
                     "default_fd": scores["finetune"], "own_fd": scores["own"],
                     "default_vs_own": scores["finetune"] / scores["own"] - 1})
    return rows


def pick(runs: Path, pair_name: str, size: int, seed: int, tag: str) -> dict:
    """The default and `tag`'s finetune run again on four fifths of the rows, scored on the fifth held back."""
    cell = runs / pair_name / str(size) / f"seed{seed}"
    source = runs / "sources" / EVERY_PAIR[pair_name].source / "checkpoints" / "last.ckpt"
    train, table, data = training_rows(checkpoint.load(cell / "default" / "checkpoints" / "last.ckpt", "cpu"))
    validation = {}
    for name in ("default", tag):
        folder = cell / f"fifths-{name}"
        if trained(folder, None, source) is None:
            ganxfer(*on_four_fifths(cell / name, source, size), f"hydra.run.dir={folder}")
        fitted = checkpoint.load(trained(folder), "cpu")
        held_back = train.drop(index=recorded_rows(fitted, table, "train_rows").index)
        schema = Schema.from_dict(fitted["schema"])
        columns = [column for column in held_back.columns if column in schema.names]
        space = comparison_space(data, table, train[columns])
        validation[name] = frechet_distance(space(held_back[columns]),
                                            space(synthetic_rows(fitted, schema, 2000, 0, "cpu")[columns]))
    chosen = min(validation, key=validation.get)
    scores = {name: held_out_fd(cell, name)["finetune"] for name in validation}
    return {"pair": pair_name, "rows": size, "seed": seed, "held_back": len(held_back),
            "validation_default": validation["default"], f"validation_{tag}": validation[tag], "pick": chosen,
            "fd_default": scores["default"], f"fd_{tag}": scores[tag], "fd_pick": scores[chosen],
            "fd_own": held_out_fd(cell, "default")["own"]}


def on_four_fifths(run: Path, source: Path, size: int) -> list[str]:
    """The command line of a finetune the study ran, with every setting it was given (read from
    its .hydra/overrides.yaml) but for its rows, four fifths of them, and as many steps."""
    steps = checkpoint.load(run / "checkpoints" / "last.ckpt", "cpu")["step"]
    given = [str(override) for override in OmegaConf.load(run / ".hydra" / "overrides.yaml")]
    kept = [override for override in given
            if not override.startswith(("stage=", "ckpt=", "data.shots=", "trainer.steps=", "hydra."))]
    return ["finetune", f"ckpt={source}", *kept, f"data.shots={size * 4 // 5}", f"trainer.steps={steps}"]


def markdown_table(frame: pd.DataFrame) -> list[str]:
    """A markdown table, numbers to three significant digits (pandas' to_markdown needs tabulate)."""
    cells = [[f"{value:.3g}" if isinstance(value, float) else str(value) for value in row]
             for row in frame.itertuples(index=False)]
    return ["| " + " | ".join(frame.columns) + " |", "|" + "---|" * len(frame.columns),
            *("| " + " | ".join(row) + " |" for row in cells)]


def markdown(table: pd.DataFrame, picks: pd.DataFrame | None, command: str) -> str:
    lines = [f"`{command}`", "", *markdown_table(table)]
    if picks is not None:
        means = picks.groupby(["pair", "rows"])[[c for c in picks.columns if c.startswith("fd_")]].mean()
        means["pick_vs_default"] = means["fd_pick"] / means["fd_default"] - 1
        means["pick_vs_own"] = means["fd_pick"] / means["fd_own"] - 1
        lines += ["", *markdown_table(picks), "", "Mean over seeds:", "", *markdown_table(means.reset_index())]
    return "\n".join(lines)


def main(argv=None) -> str:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--runs", type=Path, default=Path("outputs/fewshot"))
    parser.add_argument("--pairs", default=",".join(TUNING_PAIRS))
    parser.add_argument("--shots", type=int, nargs="+", default=[10, 50, 200])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--source-seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--pick", default=None,
                        help="a study tag to choose between it and the default by validation")
    args = parser.parse_args(argv)
    pairs = args.pairs.split(",")
    write_tables(args.runs, pairs)
    table = pd.DataFrame([row for name in pairs for source_seed in args.source_seeds
                          for row in signals(args.runs, name, source_seed, args.shots, args.seeds)])
    picks = None
    if args.pick:
        picks = pd.DataFrame([pick(args.runs, name, size, seed, args.pick) for name in pairs
                              for size in args.shots if size >= 50 for seed in args.seeds])
    args.out.mkdir(parents=True, exist_ok=True)
    table.to_csv(args.out / "source_signals.csv", index=False)
    command = "python benchmarks/source_signals.py " + " ".join(argv if argv is not None else sys.argv[1:])
    text = markdown(table, picks, command)
    (args.out / "source_signals.md").write_text(text + "\n")
    print(text)
    return text


if __name__ == "__main__":
    main()
