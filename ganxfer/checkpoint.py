"""Checkpoints: one file with everything needed to resume, transfer, evaluate or sample.

Written atomically (temporary file in the same folder, fsync, os.replace), so a crash during a
save leaves the previous file intact. Read with torch.load(weights_only=True): tensors and plain
containers only, so a file crafted to run code on unpickling is refused instead of executed.
"""

import pickle
import platform
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from omegaconf import OmegaConf

import ganxfer
from ganxfer import models, transfer
from ganxfer.data import Schema
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


def resolve(spec, outputs: Path = Path("outputs")) -> Path:
    """`latest` is the newest checkpoints/last.ckpt of a pretrain run under outputs/."""
    if spec is None:
        raise UserError("this stage needs a checkpoint: ckpt=PATH or ckpt=latest")
    if str(spec) != "latest":
        return Path(spec)
    candidates = [path for path in outputs.glob("**/checkpoints/last.ckpt") if "pretrain" in path.parts]
    if not candidates:
        raise UserError(f"ckpt=latest found no pretrain run under {outputs.resolve()}: "
                        "run `ganxfer pretrain` first or give ckpt=PATH")
    return max(candidates, key=lambda path: path.stat().st_mtime)


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


def sampler(state: dict, device) -> torch.nn.Module:
    """The generator a checkpoint samples with (its EMA copy when it has one), rebuilt with the
    structure its transfer strategy gave it."""
    schema = Schema.from_dict(state["schema"])
    generator, discriminator = models.build(model_settings(state), schema.layout, schema.image_shape,
                                            schema.classes)
    if state["stage"] == "finetune":
        strategy = transfer.get(OmegaConf.create(state["config"]["transfer"]))
        generator, _ = strategy.adapt(generator, discriminator)
    generator.load_state_dict(sampler_weights(state["networks"]))
    return generator.to(device)
