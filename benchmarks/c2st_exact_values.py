"""How much of C2ST's verdict on the health table is its exact values: the target's real people
against other real people of the same site, then against those people with one number moved by 1%
of its standard deviation, a change no one reading the rows would call a different person.

    python benchmarks/c2st_exact_values.py [--site "Georgetown County"] [--seeds 3]

The site's rows are shuffled and halved; each half is encoded in the space fitted on the first
(numbers standardised, categories one-hot), as `ganxfer evaluate` encodes real and synthetic rows,
and scored by ganxfer's C2ST (gradient boosting; 0.5: indistinguishable, 1: always told apart),
mean over seeds. Prints one line per column moved: a column whose real values repeat exactly
(counts, codes, values a family shares) lets the classifier tell any generator's rows from real
ones unless the generator reproduces those exact values."""

import argparse
from importlib.resources import files

import numpy as np
import pandas as pd

from ganxfer.metrics.c2st import c2st
from ganxfer.metrics.space import Space

CATEGORICAL = frozenset({"coinsurance", "female", "hospital_admissions"})  # as the health schema reads them
MOVE = 0.01  # of the column's standard deviation


def halves(site: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    table = pd.read_csv(files("ganxfer.data") / "bundled" / "health.csv")
    rows = table[table["site"] == site].drop(columns="site").sample(frac=1, random_state=0).reset_index(drop=True)
    middle = len(rows) // 2
    return rows.iloc[:middle].reset_index(drop=True), rows.iloc[middle:].reset_index(drop=True)


def accuracy(space: Space, real: pd.DataFrame, other: pd.DataFrame, seeds: int) -> float:
    return float(np.mean([c2st(space(real), space(other), seed=seed)["c2st_accuracy"] for seed in range(seeds)]))


def main(argv=None) -> str:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--site", default="Georgetown County")
    parser.add_argument("--seeds", type=int, default=3)
    args = parser.parse_args(argv)
    first, second = halves(args.site)
    space = Space.fit(first, categorical=CATEGORICAL)
    rng = np.random.default_rng(0)
    lines = [f"{args.site}: {len(first)} real rows against {len(second)} others, C2ST accuracy (mean of "
             f"{args.seeds} seeds)", "", "| the other rows | C2ST |", "|---|---:|",
             f"| as they are | {accuracy(space, first, second, args.seeds):.3f} |"]
    numbers = [name for name in first.columns if name not in CATEGORICAL]
    for name in numbers:
        moved = second.assign(**{name: second[name] + rng.normal(0, MOVE * first[name].std(), len(second))})
        lines.append(f"| `{name}` moved by {MOVE:.0%} of its sd | {accuracy(space, first, moved, args.seeds):.3f} |")
    text = "\n".join(lines)
    print(text)
    return text


if __name__ == "__main__":
    main()
