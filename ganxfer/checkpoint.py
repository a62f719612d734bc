"""Checkpoints: one file with everything needed to resume, transfer, evaluate or sample.

Written atomically (temporary file in the same folder, fsync, os.replace), so a crash during a
save leaves the previous file intact. Read with torch.load(weights_only=True): tensors and plain
containers only, so a file crafted to run code on unpickling is refused instead of executed.
"""

import logging
import pickle
import platform
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from omegaconf import OmegaConf

import ganxfer
from ganxfer.errors import UserError
from ganxfer.files import atomic_write

FORMAT = "ganxfer-checkpoint"
VERSION = 1
REQUIRED_KEYS = ("format", "format_version", "stage", "step", "networks", "transfer", "augment", "rng",
                 "config", "schema", "split", "versions")


def versions() -> dict:
    return {"ganxfer": ganxfer.__version__, "torch": str(torch.__version__), "numpy": np.__version__,
            "pandas": pd.__version__, "python": platform.python_version()}


def save(path: Path, payload: dict) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {"format": FORMAT, "format_version": VERSION, "versions": versions(), **payload}
    atomic_write(path, lambda file: torch.save(payload, file))


def load(path, device="cpu") -> dict:
    """Read and validate a checkpoint; tensors land on `device` whatever device wrote them."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"checkpoint not found: {path}")
    unreadable = f"{path} is not a readable ganxfer checkpoint (truncated, or another kind of file)"
    if not zipfile.is_zipfile(path):  # torch.save writes a zip archive; anything else is not ours
        raise UserError(unreadable)
    try:
        payload = torch.load(path, map_location=device, weights_only=True)
    except pickle.UnpicklingError:
        raise UserError(f"{path} holds objects other than tensors and plain data; it was not "
                        "written by ganxfer and is refused unread (loading it could run code)") from None
    except Exception as err:  # torch reports damaged archives with assorted exception types
        raise UserError(f"{unreadable}: {str(err).splitlines()[0] if str(err) else type(err).__name__}") from None
    return validate(payload, path)


def validate(payload, path) -> dict:
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise UserError(f"{path} is not a ganxfer checkpoint")
    if payload["format_version"] > VERSION:
        raise UserError(f"{path} has checkpoint format {payload['format_version']}, newer than this "
                        f"ganxfer reads ({VERSION}); upgrade ganxfer")
    missing = [key for key in REQUIRED_KEYS if key not in payload]
    if missing:
        raise UserError(f"{path} is an incomplete ganxfer checkpoint: missing {', '.join(missing)}")
    return payload


# What `ckpt=latest` means to the stage that reads it: finetune starts from a source model, so
# the newest pretrain run; evaluate and sample want the newest trained model of either kind.
LATEST_OF = {"finetune": ("pretrain",), "evaluate": ("finetune", "pretrain"), "sample": ("finetune", "pretrain")}
log = logging.getLogger("ganxfer")


def resolve(spec, stages=("pretrain",), outputs: Path = Path("outputs")) -> Path:
    """A checkpoint path as given, or for `latest` the newest checkpoints/last.ckpt under outputs/
    of a run of one of `stages` (outputs/<stage>/... or a sweep's outputs/multirun/<stage>/...)."""
    if spec is None:
        raise UserError("this stage needs a checkpoint: ckpt=PATH or ckpt=latest")
    if str(spec) != "latest":
        return Path(spec)
    candidates = [path for path in outputs.glob("**/checkpoints/last.ckpt") if stage_of_run(path, outputs) in stages]
    kinds = " or ".join(stages)
    if not candidates:
        raise UserError(f"ckpt=latest found no {kinds} run under {outputs.resolve()}: "
                        f"run `ganxfer {stages[-1]}` first or give ckpt=PATH")
    newest = max(candidates, key=lambda path: path.stat().st_mtime)
    log.info("ckpt=latest is %s (the newest %s run under %s)", newest, kinds, outputs)
    return newest


def stage_of_run(path: Path, outputs: Path) -> str:
    """The stage whose run wrote `path`: as the run's Hydra record says, else the folder under
    outputs/ (or under outputs/multirun/) that Hydra names after the stage."""
    record = path.parent.parent / ".hydra" / "config.yaml"
    if record.is_file():
        stage = OmegaConf.select(OmegaConf.load(record), "stage.name", default=None)
        if stage:
            return str(stage)
    parts = path.relative_to(outputs).parts
    return parts[1] if parts[0] == "multirun" and len(parts) > 1 else parts[0]


# What a checkpoint holds beyond the networks, read the same way by every stage. Checkpoints
# written before the run plan existed carry its parts in their config.

def model_settings(state: dict) -> dict:
    """The settings its networks were built with (for a finetune: the source's, whatever the
    run's own `model` group said)."""
    return state["plan"]["model"] if "plan" in state else state["config"]["model"]


def domain(state: dict) -> str | None:
    """The domain name its target rows were given when fine-tuned from a domain-conditioned model."""
    return state["plan"]["domain"] if "plan" in state else state["config"]["data"].get("domain")


def source_path(state: dict) -> str | None:
    """The checkpoint a finetune started from."""
    return state["plan"]["source_path"] if "plan" in state else state["config"].get("ckpt")


EMA_PREFIX = "module."  # the EMA keeps the averaged generator as its submodule `module`


def sampler_weights(networks: dict) -> dict:
    """The weights to sample with from a checkpoint's networks: the EMA generator's if present."""
    if networks["ema"] is None:
        return networks["generator"]
    return {key[len(EMA_PREFIX):]: value for key, value in networks["ema"].items() if key.startswith(EMA_PREFIX)}
