"""Numbers that live on a few values, read three ways: kept to their values (the default),
as categories (data.categorical=[...]) and as free numbers (data.continuous=[...]).

    python benchmarks/few_values.py [--rows 4000] [--pretrain-steps 1500] [--finetune-steps 300] [--seeds 2]

A generated survey in two domains: `age` holds six binned ages (17.5 ... 42), younger in domain a,
older in b; `score` (0-4, and 5.5 in b only) follows age; `income` follows age. Pretrains on a,
fine-tunes on 400 rows of b (fewer in a smaller table), and prints the quality score's parts on held-out rows of each
domain (mean over seeds): each column's shape (KS) and the column pairs' correlation similarity."""

import argparse
import contextlib
import io
import json
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from ganxfer import cli

AGES = [17.5, 22, 27, 32, 37, 42]
READINGS = {"kept to values": [], "categories": ["data.categorical=[age,score]"],
            "free numbers": ["data.continuous=[age,score]"]}


def survey(rows: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    in_b = np.arange(rows) >= rows // 2
    age = np.where(in_b, rng.choice(AGES, rows, p=[.05, .08, .12, .2, .25, .3]),
                   rng.choice(AGES, rows, p=[.3, .25, .2, .12, .08, .05]))
    score = np.clip(np.round((age - 17.5) / 6 + rng.normal(0, 0.8, rows)), 0, 4)
    score = np.where(in_b & (score == 4) & (rng.random(rows) < 0.5), 5.5, score)  # a value new in b
    income = np.round(1000 + 80 * age + rng.normal(0, 300, rows), 2)
    return pd.DataFrame({"domain": np.where(in_b, "b", "a"), "age": age, "score": score, "income": income})


def quiet(args: list[str]) -> None:
    with contextlib.redirect_stdout(io.StringIO()):
        assert cli.main(args) == 0


def breakdown(run: Path, out: Path, seed: int) -> dict:
    quiet(["evaluate", f"ckpt={run}/checkpoints/last.ckpt", "metrics=[quality]", f"seed={seed}",
           f"hydra.run.dir={out}"])
    record = json.loads((out / "metrics.json").read_text())
    shapes = record["quality_breakdown"]["column_shapes"]
    return {**{name: shapes[name]["score"] for name in ("age", "score", "income")},
            "pairs": record["quality_column_pairs"], "quality": record["quality_score"]}


def measure(folder: Path, rows: int, pretrain_steps: int, finetune_steps: int, seeds: int) -> pd.DataFrame:
    survey(rows).to_csv(folder / "survey.csv", index=False)
    common = ["data=csv", f"data.path={folder / 'survey.csv'}", "data.label=domain", "model.z_dim=16",
              "model.g_hidden=64", "model.d_hidden=64", "trainer.batch_size=128", "trainer.log_every=100"]
    results = []
    for seed in range(seeds):
        for reading, keys in READINGS.items():
            source, target = folder / f"source_{reading}_{seed}", folder / f"target_{reading}_{seed}"
            quiet(["pretrain", *common, *keys, "data.classes=[a]", f"trainer.steps={pretrain_steps}",
                   f"trainer.ckpt_every={pretrain_steps}", f"seed={seed}", f"hydra.run.dir={source}"])
            quiet(["finetune", *common, *keys, "data.classes=[b]", f"data.shots={min(400, rows // 5)}",
                   f"trainer.steps={finetune_steps}", f"trainer.ckpt_every={finetune_steps}", f"seed={seed}",
                   f"ckpt={source}/checkpoints/last.ckpt", f"hydra.run.dir={target}"])
            for stage, run in (("pretrain (a)", source), ("finetune (b)", target)):
                scores = breakdown(run, folder / f"eval_{run.name}", seed)
                results.append({"stage": stage, "reading": reading, **scores})
    return pd.DataFrame(results).groupby(["stage", "reading"], sort=False).mean().round(3).reset_index()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=4000)
    parser.add_argument("--pretrain-steps", type=int, default=1500)
    parser.add_argument("--finetune-steps", type=int, default=300)
    parser.add_argument("--seeds", type=int, default=2)
    args = parser.parse_args()
    sys.argv = ["ganxfer"]
    with tempfile.TemporaryDirectory() as folder:
        table = measure(Path(folder), args.rows, args.pretrain_steps, args.finetune_steps, args.seeds)
    print(table.to_string(index=False))


if __name__ == "__main__":
    main()
