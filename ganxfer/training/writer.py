"""What a training run writes: checkpoints (last.ckpt, and best.ckpt at the best value of the
monitored metric), one CSV row per log step, the trackers' rows, and metrics.json at the end.
Rank 0 writes for every process; the other ranks get callbacks that do nothing. A resumed run
carries on the run it continues: its best so far, and its train_log.csv up to the resumed step; a
new run in an earlier run's folder moves the earlier run's files aside first."""

import csv
import json
import logging
from datetime import datetime
from pathlib import Path

import torch

from ganxfer import checkpoint, distributed, loggers, metrics
from ganxfer.data import TrainingData
from ganxfer.errors import UserError
from ganxfer.files import atomic_link, atomic_write
from ganxfer.runtime import console, run_log
from ganxfer.training.build import Run
from ganxfer.training.loop import Callbacks
from ganxfer.training.plan import RunPlan
from ganxfer.training.stopping import Plateau
from ganxfer.training_log import LOG_COLUMNS

log = logging.getLogger(__name__)


class RunWriter:
    def __init__(self, out: Path, monitor: str, config: dict, plan: RunPlan, data: TrainingData, run: Run,
                 resumed: dict | None = None, stopping: Plateau | None = None):
        """`monitor`: trainer.monitor; `config`: the run's config as the user composed it, saved in
        every checkpoint; `stopping`: trainer.steps=auto's rule, recorded in checkpoints and metrics.json."""
        self.out, self.plan, self.run = out, plan, run
        self.stopping = stopping
        self.last_path, self.best_path = out / "checkpoints" / "last.ckpt", out / "checkpoints" / "best.ckpt"
        self.monitor, self.config = monitor, config
        self.schema = data.schema.to_dict()
        self.split = {"train_rows": torch.tensor(data.positions),
                      "holdout_rows": torch.tensor(data.holdout.index.to_numpy())}
        if data.holdout_groups is not None:  # streamed: the held-out share is whole row groups
            self.split["holdout_groups"] = torch.tensor(data.holdout_groups)
        self.write_row = _csv_logger(out / "train_log.csv")
        self.best, self.last = None, {}
        if resumed is not None:
            self.best = _best_before(resumed, self.monitor)
            if distributed.is_main():
                _drop_rows_after(out / "train_log.csv", resumed["step"])
        else:
            _check_not_the_sources_folder(out, plan.source_path)  # on every rank: all stop alike
            if distributed.is_main():
                _set_aside_an_earlier_run(out)

    def callbacks(self, before_step, evaluate) -> Callbacks:
        """The loop's callbacks: on ranks other than 0 only `before_step`, which every rank runs."""
        if not distributed.is_main():
            return Callbacks(before_step=before_step)
        return Callbacks(save=self.save, log=self.log, before_step=before_step, evaluate=evaluate)

    def save(self, step: int, path: Path | None = None) -> None:
        if path is None and self.best is not None and self.best["step"] == step:
            # best.ckpt holds this very step, written as it was logged (a step logs, then saves):
            # last.ckpt becomes a second name of that file instead of a second write of its bytes.
            try:
                atomic_link(self.best_path, self.last_path)
                return
            except OSError:
                pass  # a filesystem without hard links: written as usual
        run = self.run
        augment = run.objective.augment
        reader = run.rows.position(step)  # streamed rows: where their reader stands
        checkpoint.save(path or self.last_path, {
            "stage": self.plan.stage, "step": step, "networks": run.gan.state_dict(),
            "transfer": run.strategy.state_dict(), "augment": augment.state_dict() if augment else {},
            "meta": run.meta_learner.state_dict() if run.meta_learner else {},
            "rng": {"batches": run.rng.get_state(), "torch": torch.get_rng_state()},
            "config": self.config, "plan": self.plan.to_dict(), "schema": self.schema, "split": self.split,
            "best": self._best_so_far(),
            "stopping": None if self.stopping is None else self.stopping.state_dict(),
            **({} if reader is None else {"reader": reader}),
        })

    def _best_so_far(self) -> dict | None:
        """What a checkpoint records of the best evaluation, for a run resumed from it: its step
        and the monitored metric's value, a plain float (a checkpoint holds no NumPy objects)."""
        if self.best is None:
            return None
        return {"step": self.best["step"], self.monitor: float(self.best[self.monitor])}

    def log(self, row: dict) -> None:
        """Writes the row; at evaluation steps, keeps best.ckpt at the best monitored value."""
        self.write_row(row)
        loggers.log_row(row)
        run_log.info(_progress_line(row))  # the console's progress bar leaves nothing to read later
        if self.monitor in row:
            self.last = row
            if self.best is None or row[self.monitor] < self.best[self.monitor]:
                self.best = row
                self.save(row["step"], self.best_path)

    def finish(self, final_metrics: dict) -> float:
        """Writes the last logged row, the final metrics and the best step to metrics.json; returns
        the monitored metric's last value, the number a sweeper minimises."""
        last = {**self.last, **final_metrics}
        record = {"stage": self.plan.stage, **last, "best_step": self.best["step"],
                  f"best_{self.monitor}": self.best[self.monitor]}
        if self.stopping is not None:
            record["stopping"] = self.stopping.outcome(self.last["step"])
        (self.out / "metrics.json").write_text(json.dumps(record, indent=2))
        # The run's own distances are in the scaling it trains with (docs/metrics.md): say so, so
        # that two runs' numbers are not read as comparable.
        console.print("final " + ", ".join(f"{key} {value:.4g}" for key, value in last.items()
                                            if key not in LOG_COLUMNS)
                      + " (on the held-out rows, in this run's own scaling; `ganxfer evaluate ckpt=[A,B]` compares runs)",
                      soft_wrap=True)
        return self.last[self.monitor]


def _progress_line(row: dict) -> str:
    """A log step as the run's log file keeps it: losses, speed, and the metrics if evaluated."""
    line = (f"step {row['step']}: D loss {row['d_loss']:.4g}, G loss {row['g_loss']:.4g}, "
            f"{row['steps_per_s']:.0f} steps/s")
    if row["skipped"]:
        line += f", {row['skipped']} update(s) skipped as non-finite"
    return line + "".join(f", {key} {value:.4g}" for key, value in row.items() if key not in LOG_COLUMNS)


def _best_before(resumed: dict, monitor: str) -> dict | None:
    """The best evaluation of the run up to the step it resumes from, as its checkpoint recorded
    it: the checkpoint is the state the run goes on from, so it is right wherever the resumed run
    writes. Not best.ckpt or train_log.csv, which may hold evaluations of the steps after it that
    the resumed run does again, nor metrics.json, written only when a run finishes. None (the
    best starts afresh) when the checkpoint predates the record or kept it for another metric
    than trainer.monitor now names."""
    best = resumed.get("best")
    return best if best is not None and monitor in best else None


# What a training run writes into its folder; a new run in the folder of an earlier one finds the
# earlier run's here (Hydra's .hydra/ and <stage>.log keep a record of every command instead).
RUN_FILES = ("train_log.csv", "metrics.json", "curves.png", "samples.png", "checkpoints")


def _check_not_the_sources_folder(out: Path, source_path: str | None) -> None:
    """A finetune may not write its checkpoints where its source lies."""
    if source_path is not None and (out / "checkpoints").resolve() in Path(source_path).resolve().parents:
        raise UserError(f"the source checkpoint {source_path} lies in this run's folder {out}: the finetune "
                        "would write its own checkpoints there; give it another hydra.run.dir")


def _set_aside_an_earlier_run(out: Path) -> None:
    """A new run (not a resume) in the folder of an earlier one: the earlier run's files move to
    earlier-<time>/ inside it, so that neither run's log, checkpoints or figures mix with the
    other's and nothing written is lost."""
    earlier = [out / name for name in RUN_FILES
               if (out / name).is_file() or (out / name).is_dir() and any((out / name).iterdir())]
    if not earlier:
        return  # a new folder, or the empty checkpoints/ that run.check_writable made
    aside = out / f"earlier-{datetime.now():%Y-%m-%d_%H-%M-%S-%f}"
    aside.mkdir()
    for path in earlier:
        path.rename(aside / path.name)
    (out / "checkpoints").mkdir(exist_ok=True)
    log.warning("%s held an earlier run, not resumed (resume=.../checkpoints/last.ckpt carries a run on): "
                "its files are moved to %s", out, aside.name)


def _drop_rows_after(path: Path, step: int) -> None:
    """A resumed run logs again the steps after the one it resumes from: their rows from before
    it stopped go, with a last line that a kill cut short, so the log reads as one uninterrupted
    run's."""
    if not path.exists():
        return
    with path.open(newline="") as file:
        lines = file.readlines()
    complete = [line for line in lines if line.endswith("\n")]
    kept = complete[:1] + [row for row in complete[1:] if int(row.split(",", 1)[0]) <= step]  # step comes first
    if not kept:  # not even the header was written whole: the log starts again
        path.unlink()
    elif kept != lines:
        atomic_write(path, lambda file: file.writelines(kept), binary=False)


def _csv_logger(path: Path):
    """One CSV row per log step: step, losses, speed, and the metrics at evaluation steps."""
    columns = [*LOG_COLUMNS, *metrics.QUICK]

    def log(row: dict) -> None:
        new = not path.exists()
        with path.open("a", newline="") as file:
            writer = csv.DictWriter(file, fieldnames=columns)
            if new:
                writer.writeheader()
            writer.writerow(row)
    return log
