"""Experiment trackers, on top of the files every training run writes anyway (train_log.csv,
metrics.json, PNGs): logger=none|tensorboard|mlflow.

While a run is tracked, each row of its training log goes to the tracker as well; when the run
ends, its resolved config, metrics.json and pictures follow. The jobs of one sweep share one
experiment: TensorBoard's events go into each job's run directory, so the sweep directory is the
log directory to open; MLflow files every job under one experiment named after the sweep."""

import json
import os
from contextlib import contextmanager
from pathlib import Path

import yaml

from ganxfer import distributed
from ganxfer.errors import Interrupted, UserError
from ganxfer.settings import Logger

_open = []  # the tracker of the run in progress, if any


def log_row(row: dict) -> None:
    """One training log row (step, losses, metrics) to the tracker of the run in progress."""
    for tracker in _open:
        tracker.log_row(row)


@contextmanager
def tracking(logger: Logger, config: dict, out: Path, names: tuple[str, str]):
    """Track the run that writes into `out` for as long as the block lasts, under `names`: its
    experiment's and its own. `config`, the run's as composed, is the tracker's record of it."""
    if logger.name == "none" or not distributed.is_main():
        yield
        return
    tracker = BACKENDS[logger.name](logger, out, *names)
    _open.append(tracker)
    status = "FAILED"
    try:
        yield
        status = "FINISHED"
    except Interrupted:
        status = "KILLED"
        raise
    finally:
        _open.remove(tracker)
        tracker.close(config, out, status)


def _pictures(out: Path) -> list[Path]:
    return sorted(out.glob("*.png"))


def _best_metrics(out: Path) -> dict:
    """best_step and the best value of the monitored metric, from a finished run's metrics.json."""
    path = out / "metrics.json"
    results = json.loads(path.read_text()) if path.exists() else {}
    return {key: value for key, value in results.items() if key.startswith("best_")}


def _flat(config: dict, prefix: str = "") -> dict[str, str]:
    """Nested config -> {"trainer.steps": "6", ...}"""
    flat = {}
    for key, value in config.items():
        if isinstance(value, dict):
            flat.update(_flat(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = str(value)
    return flat


class TensorBoard:
    """Scalars, the config as text and the pictures as images, in the run directory's event file."""

    def __init__(self, settings: Logger, out: Path, experiment: str, run: str):
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            raise UserError("logger=tensorboard needs the tensorboard package: "
                            "pip install 'ganxfer[tensorboard]'") from None
        self.writer = SummaryWriter(log_dir=str(out))
        self.last_step = 0

    def log_row(self, row: dict) -> None:
        self.last_step = row["step"]
        for key, value in row.items():
            if key != "step":
                self.writer.add_scalar(key, value, row["step"])

    def close(self, config: dict, out: Path, status: str) -> None:
        import matplotlib.image

        # Indented four spaces: TensorBoard shows its text as Markdown, and this as code.
        text = yaml.safe_dump(config, sort_keys=False)
        self.writer.add_text("config", "\n".join("    " + line for line in text.splitlines()))
        self.writer.add_text("status", status)
        for picture in _pictures(out):
            image = matplotlib.image.imread(picture)[..., :3]  # RGBA -> RGB
            self.writer.add_image(picture.stem, image, self.last_step, dataformats="HWC")
        for key, value in _best_metrics(out).items():
            self.writer.add_scalar(key, value, self.last_step)
        self.writer.close()


def _check_can_create(folder: Path, key: str) -> None:
    """A folder the tracker would make and fail on mid-setup, with a traceback of its own."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise UserError(f"{key}={folder} cannot be created ({err.strerror}): give {key}=A_WRITABLE_FOLDER") from None


class MLflow:
    """Parameters (the flattened config), metrics per step, and the run directory's metrics.json
    and pictures as artifacts, in an MLflow tracking store (by default a local folder)."""

    def __init__(self, settings: Logger, out: Path, experiment: str, run: str):
        # MLflow 3 asks for an opt-in to its folder store: the one that needs no database or server.
        os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
        try:
            from mlflow.tracking import MlflowClient
        except ImportError:
            raise UserError("logger=mlflow needs MLflow: pip install 'ganxfer[mlflow]'") from None
        uri = settings.tracking_uri
        if "://" not in uri and not uri.startswith("file:"):
            _check_can_create(Path(uri), "logger.tracking_uri")
            uri = Path(uri).absolute().as_uri()
        self.client = MlflowClient(uri)
        found = self.client.get_experiment_by_name(experiment)
        experiment_id = found.experiment_id if found else self._create_experiment(experiment)
        self.run_id = self.client.create_run(experiment_id, run_name=run).info.run_id

    def _create_experiment(self, name: str) -> str:
        from mlflow.exceptions import MlflowException

        try:
            return self.client.create_experiment(name)
        except MlflowException:  # a parallel job of the same sweep created it first
            return self.client.get_experiment_by_name(name).experiment_id

    def log_row(self, row: dict) -> None:
        for key, value in row.items():
            if key != "step":
                self.client.log_metric(self.run_id, key, value, step=row["step"])

    def close(self, config: dict, out: Path, status: str) -> None:
        from mlflow.entities import Param

        params = [Param(key, value) for key, value in _flat(config).items()]
        for start in range(0, len(params), 100):  # a tracking server takes at most 100 at once
            self.client.log_batch(self.run_id, params=params[start:start + 100])
        for path in [out / "metrics.json", *_pictures(out)]:
            if path.exists():
                self.client.log_artifact(self.run_id, str(path))
        for key, value in _best_metrics(out).items():
            self.client.log_metric(self.run_id, key, value)
        self.client.set_terminated(self.run_id, status)


BACKENDS = {"tensorboard": TensorBoard, "mlflow": MLflow}
