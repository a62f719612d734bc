"""Where a pretrain with trainer.steps=auto should stop: the check interval, margin, patience and
floor of its rule (ganxfer/training/stopping.py), chosen on tables the peer benchmark
(against_peers.py) does not score: scikit-learn's iris, the generated mixed table of
tabular_defaults.py, and a wider generated table.

    python benchmarks/auto_steps.py [--seeds 0 1] [--record-every 125] [--records records.json]

Each table and seed is one in-process pretrain to the ceiling (10,000 steps) whose rule never
stops; at every --record-every steps it records the rule's signal (fd on training rows), two
signals it could read instead (1 - quality and 1 - its column-shapes part, on the same training
rows, of samples on other z), and the score the peer benchmark gives: ganxfer's `quality`
(SDMetrics' formula) of as many samples as training rows, on the training rows. Every candidate
rule is then replayed on those records, for each signal: where it would have stopped, and its
score there against the score at 10,000 steps. --records keeps the records (and replays a kept
file without training)."""

import argparse
import contextlib
import io
import itertools
import json
import statistics
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from tabular_defaults import generated_table, iris_table, wide_table


TABLES = {"iris": iris_table, "generated": generated_table, "wide": wide_table}
SIGNALS = ["fd", "quality", "shapes"]  # each lower is better
CANDIDATES = {"every": [125, 250, 500], "margin": [0.01, 0.02, 0.05], "patience": [2, 3, 4, 6],
              "floor": [500, 1000, 2000]}


def record(csv: Path, run: Path, seed: int, every: int) -> list[dict]:
    """Every `every` steps of one run to the ceiling: the step, the rule's signal (fd on training
    rows) and two others it could read instead, 1 - quality and 1 - its column-shapes part, of
    rows drawn on other z (seed + 1) against the same training rows; and the score, `quality` of
    as many samples as training rows (z of seed 0, as the peer benchmark draws them), on the
    training rows."""
    import torch

    from ganxfer import cli, metrics, models
    from ganxfer.training import stopping

    from against_peers import training_rows

    train = training_rows(csv)
    points = []
    signal_of = stopping.training_fd

    def recording_signal(gan, schema, rows, labels, seed_):
        fd = signal_of(gan, schema, rows, labels, seed_)
        picked = np.sort(np.random.default_rng(seed_).permutation(len(rows))[:stopping.SIGNAL_ROWS])
        real = schema.inverse(rows[picked])

        def table(count: int, z_seed: int) -> pd.DataFrame:
            was_training = gan.sampler.training
            rows_ = schema.inverse(models.generate(gan.sampler, count, z_seed, torch.device("cpu")).numpy())
            gan.sampler.train(was_training)
            return rows_

        def signal() -> float:
            value = fd()
            other = metrics.tabular.quality(real, table(len(real), seed_ + 1)[real.columns])
            score = metrics.tabular.quality(train, table(len(train), 0)[train.columns])["quality_score"]
            points.append({"step": (len(points) + 1) * every, "fd": value,  # the rule checks every `every` steps
                           "quality": 1 - other["quality_score"], "shapes": 1 - other["quality_column_shapes"],
                           "score": score})
            return value

        return signal

    never = stopping.Plateau(every, 0.0, 10**9, 0, stopping.CEILING)
    with (contextlib.redirect_stdout(io.StringIO()), _patched(stopping, "training_fd", recording_signal),
          _patched(stopping.Plateau, "default", classmethod(lambda cls: never))):
        cli.main(["pretrain", "data=csv", f"data.path={csv}", "trainer.device=cpu", "trainer.threads=1",
                  "trainer.steps=auto", f"seed={seed}", f"hydra.run.dir={run}"])
    return points


@contextlib.contextmanager
def _patched(owner, name, value):
    before = owner.__dict__[name]
    setattr(owner, name, value)
    try:
        yield
    finally:
        setattr(owner, name, before)


def replay(points: list[dict], signal: str, every: int, margin: float, patience: int, floor: int) -> tuple[int, float]:
    """(the step a rule reading `signal` stops at, the score there) on one run's records."""
    from ganxfer.training.stopping import Plateau

    rule = Plateau(every, margin, patience, floor, points[-1]["step"])
    for point in points:
        if rule.is_check(point["step"]) and rule.check(point["step"], point[signal]):
            return point["step"], point["score"]
    return points[-1]["step"], points[-1]["score"]


def main(argv=None) -> str:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--record-every", type=int, default=125)
    parser.add_argument("--tables", default=",".join(TABLES))
    parser.add_argument("--records", type=Path, default=None, help="a JSON file: written, or read if it exists")
    args = parser.parse_args(argv)
    if args.records is not None and args.records.exists():
        runs = {tuple(key.split(":")): points for key, points in json.loads(args.records.read_text()).items()}
    else:
        runs = record_all(args)
    lines = ["| signal | every | margin | patience | floor | mean steps | mean score - score at 10,000 | worst | "
             + " | ".join(f"{name} s{seed}" for name, seed in runs) + " |",
             "|---|" + "---:|" * (7 + len(runs))]
    for signal in SIGNALS:
        for every, margin, patience, floor in itertools.product(*CANDIDATES.values()):
            if every % args.record_every:
                continue
            stops = {key: replay(points, signal, every, margin, patience, floor) for key, points in runs.items()}
            losses = [score - runs[key][-1]["score"] for key, (step, score) in stops.items()]
            lines.append(f"| {signal} | {every} | {margin} | {patience} | {floor} | "
                         f"{statistics.mean(step for step, _ in stops.values()):.0f} | {statistics.mean(losses):+.4f} | "
                         f"{min(losses):+.4f} | " + " | ".join(f"{step}" for step, _ in stops.values()) + " |")
    print("\n".join(lines))
    return "\n".join(lines)


def record_all(args) -> dict:
    runs = {}
    with tempfile.TemporaryDirectory() as folder:
        for name in args.tables.split(","):
            csv = Path(folder) / f"{name}.csv"
            TABLES[name]().to_csv(csv, index=False)
            for seed in args.seeds:
                points = runs[name, str(seed)] = record(csv, Path(folder) / f"{name}-{seed}", seed, args.record_every)
                best = max(points, key=lambda point: point["score"])
                print(f"{name} seed {seed}: score {points[-1]['score']:.3f} at {points[-1]['step']} steps, "
                      f"best {best['score']:.3f} at {best['step']}", flush=True)
    if args.records is not None:
        args.records.write_text(json.dumps({":".join(key): points for key, points in runs.items()}))
    return runs


if __name__ == "__main__":
    main()
