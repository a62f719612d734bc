"""Quality per second on tables: which batch size, learning rates and scaling a tabular pretrain
should start from. Measured on tables the peer benchmark (against_peers.py) does not score:
scikit-learn's iris, a generated mixed table and a wider generated one, so that the defaults are
not fitted to it.

    python benchmarks/tabular_defaults.py [--steps 4000] [--check-every 250] [--seeds 0 1] [--goal 0.95]
        [--tables iris generated wide] [--settings NAME ...] [--records curves.json]

Each setting pretrains in-process, continued span by span; after each span its samples (as many
as the training rows) are scored with ganxfer's own quality score (SDMetrics' formula, metric
`quality`) on the training rows. Training seconds are the loop's alone (steps over the logged
steps per second, one thread), without start-up, checkpoints or scoring.
Reported per setting, mean over seeds: the score at the end, the steps and training seconds to
reach --goal times the default setting's final score, and the best score seen. --records keeps
every curve (step, training seconds, score) as JSON."""

import argparse
import contextlib
import io
import json
import statistics
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

SETTINGS = {
    "default": [],
    "batch 256": ["trainer.batch_size=256"],
    "lr 1e-3": ["optimizer.lr_g=1e-3", "optimizer.lr_d=1e-3"],
    "batch 256, lr 1e-3": ["trainer.batch_size=256", "optimizer.lr_g=1e-3", "optimizer.lr_d=1e-3"],
    "batch 256, lr 2e-3": ["trainer.batch_size=256", "optimizer.lr_g=2e-3", "optimizer.lr_d=2e-3"],
    "batch 128, lr 5e-4": ["trainer.batch_size=128", "optimizer.lr_g=5e-4", "optimizer.lr_d=5e-4"],
    "batch 256, lr_g 1e-3, lr_d 2e-3": ["trainer.batch_size=256", "optimizer.lr_g=1e-3", "optimizer.lr_d=2e-3"],
    "scaling quantile": ["data.scaling=quantile"],
    "batch 256, lr 1e-3, quantile": ["trainer.batch_size=256", "optimizer.lr_g=1e-3", "optimizer.lr_d=1e-3",
                                     "data.scaling=quantile"],
}


def iris_table() -> pd.DataFrame:
    from sklearn.datasets import load_iris

    iris = load_iris(as_frame=True)
    return iris.frame.assign(target=iris.frame["target"].map(dict(enumerate(iris.target_names))))


def generated_table() -> pd.DataFrame:
    """600 rows: correlated decimals, a skewed amount, an integer count and two text categories."""
    rng = np.random.default_rng(0)
    base = rng.multivariate_normal([0, 0, 0], [[1, 0.7, 0.3], [0.7, 1, 0.5], [0.3, 0.5, 1]], 600)
    return pd.DataFrame({
        "x": base[:, 0], "y": 10 + 3 * base[:, 1], "amount": np.exp(base[:, 2]).round(2),
        "count": rng.poisson(20, 600), "colour": np.where(base[:, 0] > 0.5, "red", rng.choice(["green", "blue"], 600)),
        "size": rng.choice(["small", "medium", "large"], 600, p=[0.6, 0.3, 0.1]),
    })


def wide_table() -> pd.DataFrame:
    """1,000 rows: 16 correlated decimals on three scales, a count and two text categories."""
    rng = np.random.default_rng(1)
    mixing = rng.normal(size=(16, 16)) / 4 + np.eye(16)
    base = rng.normal(size=(1000, 16)) @ mixing
    table = pd.DataFrame(base * rng.choice([1, 10, 100], 16), columns=[f"m{i}" for i in range(16)])
    return table.assign(count=rng.poisson(5 + 3 * np.abs(base[:, 0])),
                        group=np.where(base[:, 1] > 0, "a", rng.choice(["b", "c", "d"], 1000)),
                        flag=np.where(base[:, 2] > 1, "yes", "no"))


TABLES = {"iris": iris_table, "generated": generated_table, "wide": wide_table}


def curve(csv: Path, run: Path, overrides: list[str], steps: int, check_every: int) -> list[tuple[int, float, float]]:
    """(step, training seconds so far, quality score) after each span of one continued run."""
    import torch

    from ganxfer import checkpoint, cli, data, metrics, models
    from ganxfer.training.sampling import sampler

    points, seconds = [], 0.0
    last = run / "checkpoints" / "last.ckpt"
    for step in range(check_every, steps + 1, check_every):
        args = ["pretrain", "data=csv", f"data.path={csv}", "trainer.device=cpu", "trainer.threads=1",
                f"trainer.steps={step}", f"trainer.log_every={check_every}", f"trainer.ckpt_every={check_every}",
                f"hydra.run.dir={run}", *overrides] + ([f"resume={last}"] if last.exists() else [])
        with contextlib.redirect_stdout(io.StringIO()):
            cli.main(args)
        # the loop's own speed over the span, so that each span's start-up and checkpoint are left out
        seconds += check_every / pd.read_csv(run / "train_log.csv")["steps_per_s"].iloc[-1]
        state = checkpoint.load(last)
        schema = data.Schema.from_dict(state["schema"])
        real = pd.read_csv(csv)
        fake = schema.inverse(models.generate(sampler(state, torch.device("cpu")), len(real), 0,
                                              "cpu").numpy())
        score = metrics.tabular.quality(real, fake[real.columns])["quality_score"]
        points.append((step, seconds, score))
    return points


def main(argv=None) -> str:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=4000)
    parser.add_argument("--check-every", type=int, default=250)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--settings", nargs="+", default=list(SETTINGS), help="a subset of the names above")
    parser.add_argument("--tables", nargs="+", default=list(TABLES), choices=list(TABLES))
    parser.add_argument("--goal", type=float, default=0.95, help="share of the default's final score to reach")
    parser.add_argument("--records", type=Path, help="a JSON file to keep every curve in")
    args = parser.parse_args(argv)
    lines, records = [], {}
    for table_name in args.tables:
        make_table, curves = TABLES[table_name], records.setdefault(table_name, {})
        with tempfile.TemporaryDirectory() as folder:
            csv = Path(folder) / f"{table_name}.csv"
            make_table().to_csv(csv, index=False)
            for number, name in enumerate(args.settings):
                curves[name] = [curve(csv, Path(folder) / f"setting{number}-seed{seed}", SETTINGS[name] + [f"seed={seed}"],
                                      args.steps, args.check_every) for seed in args.seeds]
                print(f"{table_name}, {name}: final {[c[-1][2] for c in curves[name]]}", flush=True)
                if args.records:
                    args.records.write_text(json.dumps(records))
        target = args.goal * statistics.mean(c[-1][2] for c in curves.get("default", next(iter(curves.values()))))
        lines += [f"{table_name}: goal {target:.3f} ({args.goal:.0%} of the default's final score), "
                  f"{args.steps} steps, mean over seeds {args.seeds}", "",
                  "| setting | final score | best score | steps to goal | training s to goal | s per 1000 steps |",
                  "|---|---:|---:|---:|---:|---:|"]
        for name, runs in curves.items():
            reached = [next(((step, s) for step, s, score in c if score >= target), None) for c in runs]
            to_goal = ("-", "-") if None in reached else (
                f"{statistics.mean(r[0] for r in reached):.0f}", f"{statistics.mean(r[1] for r in reached):.1f}")
            lines.append(f"| {name} | {statistics.mean(c[-1][2] for c in runs):.3f} | "
                         f"{statistics.mean(max(p[2] for p in c) for c in runs):.3f} | {to_goal[0]} | {to_goal[1]} | "
                         f"{1000 * statistics.mean(c[-1][1] / c[-1][0] for c in runs):.1f} |")
        lines.append("")
    print("\n".join(lines))
    return "\n".join(lines)


if __name__ == "__main__":
    main()
