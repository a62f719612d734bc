"""How far a finetune's samples reach into the target's range, for the runs of
benchmarks/fewshot_study.py: per numeric column whose range the settings compared treat
differently (data.range=source clamps it to the source's, data.range=widen widens it,
data.refit=true refits it), and whose held-out values reach past the source's range, the share of the target's held-out values that lie within the
samples' [min, max] (coverage) and the column's shape score (KS complement, 1 is best).

    python benchmarks/range_coverage.py --runs DIR --out DIR [--pairs generated,charleston]
                                        [--tags clamp,widen,refit] [--shots 10 50 200] [--seeds 0 1]

Each tag is a finetune the study kept under RUNS/<pair>/<rows>/seed<seed>/<tag> (its `--tag`).
The first tag keeps the source's ranges (data.range=source): its checkpoint's schema names the
columns. Writes DIR/range_coverage.csv and DIR/range_coverage.md (mean over seeds)."""

import argparse
from pathlib import Path

import pandas as pd

from ganxfer import checkpoint
from ganxfer.data import Schema
from ganxfer.metrics.tabular import ks_complement
from ganxfer.settings import group_from_saved
from ganxfer.stages.evaluate import loaded, recorded_rows, synthetic_rows


def held_out(state: dict, tables: dict) -> pd.DataFrame:
    data = group_from_saved("data", state["config"]["data"])
    return recorded_rows(state, loaded(data, tables, checkpoint.domain(state)), "holdout_rows")


def beyond(schema: Schema, real: pd.DataFrame) -> list[str]:
    """The numeric columns whose values in `real` reach outside `schema`'s range."""
    return [column.name for column in schema.columns if hasattr(column, "low")
            and not real[column.name].dropna().astype(float).between(column.low, column.high).all()]


def scores(state: dict, real: pd.DataFrame, columns: list[str]) -> list[dict]:
    """Coverage and KS complement of each of `columns`, the run's samples against `real`."""
    fake = synthetic_rows(state, Schema.from_dict(state["schema"]), len(real), 0, "cpu")
    rows = []
    for name in columns:
        values, sampled = real[name].dropna().astype(float), fake[name].dropna().astype(float)
        inside = values.between(sampled.min(), sampled.max())
        rows.append({"column": name, "coverage": float(inside.mean()),
                     "ks_complement": ks_complement(values.to_numpy(), sampled.to_numpy())})
    return rows


def case_rows(folder: Path, tags: list[str], tables: dict) -> list[dict]:
    """Every tag's scores on the columns whose held-out values reach past the first tag's range
    (data.range=source: the source's); the runs of one case hold out the same rows."""
    states = {tag: checkpoint.load(folder / tag / "checkpoints" / "last.ckpt") for tag in tags}
    real = held_out(states[tags[0]], tables)
    columns = beyond(Schema.from_dict(states[tags[0]]["schema"]), real)
    return [{"tag": tag, **row} for tag in tags for row in scores(states[tag], real, columns)]


def markdown(table: pd.DataFrame) -> str:
    cells = [[f"{value:.3f}" if isinstance(value, float) else str(value) for value in row] for row in table.to_numpy()]
    lines = ["| " + " | ".join(table.columns) + " |", "|" + "---|" * len(table.columns)]
    return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in cells])


def main(argv=None) -> str:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=Path, required=True, help="the study's RUNS folder")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--pairs", default="generated,charleston")
    parser.add_argument("--tags", default="clamp,widen,refit")
    parser.add_argument("--shots", type=int, nargs="+", default=[10, 50, 200])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    args = parser.parse_args(argv)
    tags, tables, rows = args.tags.split(","), {}, []
    for pair in args.pairs.split(","):
        for shots in args.shots:
            for seed in args.seeds:
                case = case_rows(args.runs / pair / str(shots) / f"seed{seed}", tags, tables)
                rows += [{"pair": pair, "rows": shots, "seed": seed, **row} for row in case]
    results = pd.DataFrame(rows)
    args.out.mkdir(parents=True, exist_ok=True)
    results.to_csv(args.out / "range_coverage.csv", index=False)
    means = results.groupby(["pair", "rows", "column", "tag"], sort=False)[["coverage", "ks_complement"]].mean()
    table = means.unstack("tag")
    table.columns = [f"{metric} {tag}" for metric, tag in table.columns]
    text = markdown(table[[f"{metric} {tag}" for metric in ("coverage", "ks_complement") for tag in tags]].reset_index())
    (args.out / "range_coverage.md").write_text(text + "\n")
    print(text)
    return text


if __name__ == "__main__":
    main()
