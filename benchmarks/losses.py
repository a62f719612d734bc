"""Which loss and stabiliser to recommend: pretrain every combination below on the bundled digits
and on a real mixed-type table (scikit-learn's diabetes data, unscaled: integer age, a two-valued
sex column, decimals), several seeds each, then score every final checkpoint with
`ganxfer evaluate metrics=[fd,c2st]` on its held-out rows.

    python benchmarks/losses.py --steps 4000 --seeds 0 1 --out outputs/losses

Prints one table per dataset (mean ± sd over seeds) and writes losses.csv in --out."""

import argparse
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
from sklearn.datasets import load_diabetes

VARIANTS = {
    "ns (seed settings)": [],
    "ns + R1 0.1": ["loss.r1_gamma=0.1"],
    "ns + spectral norm": ["model.spectral_norm=true"],
    "ns + feature matching": ["loss.feature_matching=1.0"],
    "ns, lr_d = 2 lr_g": ["optimizer.lr_d=4e-4"],
    "hinge": ["loss=hinge"],
    "hinge + spectral norm": ["loss=hinge", "model.spectral_norm=true"],
    "lsgan": ["loss=lsgan"],
    "wgan_gp, 5 critic steps": ["loss=wgan_gp", "trainer.d_steps=5"],
}


def datasets(folder: Path) -> dict[str, list[str]]:
    table = load_diabetes(as_frame=True, scaled=False).frame
    table["age"] = table["age"].astype(int)
    table["sex"] = table["sex"].map({1.0: "a", 2.0: "b"})
    table["target"] = table["target"].astype(int)
    path = folder / "diabetes.csv"
    table.to_csv(path, index=False)
    return {"digits 0-4": [], "diabetes (mixed)": ["data=csv", f"data.path={path.absolute()}"]}


def ganxfer(*args: str) -> None:
    command = [str(Path(sys.executable).with_name("ganxfer")), *args]
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)


def main(argv=None) -> pd.DataFrame:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=4000)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--out", type=Path, default=Path("outputs/losses"))
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), help="a subset of the names above")
    args = parser.parse_args(argv)
    shutil.rmtree(args.out, ignore_errors=True)
    args.out.mkdir(parents=True)
    records = []
    for data_name, data_args in datasets(args.out).items():
        for variant in args.variants:
            for seed in args.seeds:
                name = "".join(char if char.isalnum() else "_" for char in f"{data_name.split()[0]} {variant} {seed}")
                run = args.out / name
                ganxfer("pretrain", *data_args, *VARIANTS[variant], f"seed={seed}", f"trainer.steps={args.steps}",
                        f"trainer.ckpt_every={args.steps}", f"hydra.run.dir={run}")
                ganxfer("evaluate", f"ckpt={run}/checkpoints/last.ckpt", "metrics=[fd,c2st]",
                        f"hydra.run.dir={run}/evaluate")
                scores = json.loads((run / "evaluate" / "metrics.json").read_text())
                scores = scores[0] if isinstance(scores, list) else scores
                records.append({"data": data_name, "variant": variant, "seed": seed, **_flat(scores)})
                print(records[-1], flush=True)
    results = pd.DataFrame(records)
    results.to_csv(args.out / "losses.csv", index=False)
    print(summary(results).to_markdown() if _has_tabulate() else summary(results).to_string())
    return results


def summary(results: pd.DataFrame) -> pd.DataFrame:
    columns = [name for name in ("fd", "c2st_accuracy") if name in results]
    grouped = results.groupby(["data", "variant"], sort=False)[columns]
    mean, sd = grouped.mean(), grouped.std().fillna(0)
    return mean.combine(sd, lambda m, s: m.map("{:.3g}".format) + " ± " + s.map("{:.2g}".format))


def _flat(scores: dict, prefix: str = "") -> dict:
    flat = {}
    for key, value in scores.items():
        if isinstance(value, dict):
            flat.update(_flat(value, f"{prefix}{key}_"))
        elif isinstance(value, (int, float)):
            flat[f"{prefix}{key}"] = value
    return flat


def _has_tabulate() -> bool:
    try:
        import tabulate  # noqa: F401  (pandas' to_markdown needs it)
        return True
    except ImportError:
        return False


if __name__ == "__main__":
    main()
