"""Time to quality by transfer: how many `ganxfer finetune` steps from a digits 0-4 source reach
the FD that training from scratch reaches after N steps (the goal: N/5 or fewer).

    python benchmarks/transfer_speed.py [--source-steps 10000] [--steps 2000] [--shots 100] [--seeds 3]

Pretrains the source, runs `ganxfer finetune -m transfer=scratch,full seed=...` on `shots` rows of
digits 5-9 with the FD logged every N/20 steps, and reads the steps-to-quality of `ganxfer
report`: the first logged step at which a job reached scratch's final FD (mean over seeds)."""

import argparse
import contextlib
import io
import tempfile
import time
from pathlib import Path

import pandas as pd

from ganxfer import cli

STRATEGIES = ("scratch", "full")


def quiet(args: list[str]) -> None:
    """An in-process ganxfer command, without its progress bars."""
    with contextlib.redirect_stdout(io.StringIO()):
        cli.main(args)


def measure(folder: Path, source_steps: int, steps: int, shots: int, seeds: int) -> pd.DataFrame:
    """The report.csv of the sweep: one row per strategy."""
    source = folder / "source"
    start = time.perf_counter()
    quiet(["pretrain", f"trainer.steps={source_steps}", f"trainer.ckpt_every={source_steps}",
           f"hydra.run.dir={source}"])
    print(f"source: {source_steps} steps in {time.perf_counter() - start:.0f} s", flush=True)
    every = max(1, steps // 20)
    sweep = folder / "sweep"
    start = time.perf_counter()
    quiet(["finetune", "-m", f"ckpt={source / 'checkpoints' / 'last.ckpt'}", f"transfer={','.join(STRATEGIES)}",
           f"seed={','.join(map(str, range(seeds)))}", f"data.shots={shots}", f"trainer.steps={steps}",
           f"trainer.log_every={every}", f"trainer.eval_every={every}", f"trainer.ckpt_every={steps}",
           f"hydra.sweep.dir={sweep}"])
    print(f"fine-tuning sweep: {len(STRATEGIES) * seeds} runs in {time.perf_counter() - start:.0f} s", flush=True)
    quiet(["report", str(sweep)])
    return pd.read_csv(sweep / "report.csv").set_index("transfer")


def markdown(report: pd.DataFrame, source_steps: int, steps: int, shots: int, seeds: int) -> str:
    lines = [f"Source: {source_steps} pretrain steps on digits 0-4. Target: {shots} rows of digits 5-9, "
             f"{steps} steps (N), FD against the held-out rows every {max(1, steps // 20)} steps, "
             f"{seeds} seed(s); mean over seeds.", "",
             "| transfer | final FD | steps to scratch's final FD | as a share of N |", "|---|---:|---:|---:|"]
    for strategy in STRATEGIES:
        row = report.loc[strategy]
        reached = row.get("steps_to_quality_mean", float("nan"))
        share = "never" if pd.isna(reached) else f"{reached / steps:.2f}"
        lines.append(f"| {strategy} | {row['fd_mean']:.2f} | {'never' if pd.isna(reached) else f'{reached:.0f}'} "
                     f"| {share} |")
    return "\n".join(lines)


def main(argv=None) -> str:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source-steps", type=int, default=10_000)
    parser.add_argument("--steps", type=int, default=2000, help="fine-tuning steps (N)")
    parser.add_argument("--shots", type=int, default=100, help="target training rows")
    parser.add_argument("--seeds", type=int, default=3)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as folder:
        report = measure(Path(folder), args.source_steps, args.steps, args.shots, args.seeds)
    table = markdown(report, args.source_steps, args.steps, args.shots, args.seeds)
    print(table)
    return table


if __name__ == "__main__":
    main()
