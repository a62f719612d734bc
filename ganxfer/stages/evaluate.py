"""ganxfer evaluate ckpt=PATH|latest: compare the checkpoint's samples with held-out real rows."""

import json

import pandas as pd
from omegaconf import OmegaConf

from ganxfer import checkpoint, models
from ganxfer.data import Schema, load_table, split_table
from ganxfer.errors import UserError
from ganxfer.metrics import METRICS
from ganxfer.report import metrics_table
from ganxfer.stages.common import console, data_given_on_command_line, pick_device, run_dir, sampler_from_checkpoint


def run(cfg) -> float:
    """Returns the Fréchet distance, the number a sweeper minimises."""
    device = pick_device(cfg.trainer.device)
    path = checkpoint.resolve(cfg.ckpt)
    state = checkpoint.load(path, device)
    schema = Schema.from_dict(state["schema"])
    real = held_out_rows(cfg, state)
    generator = sampler_from_checkpoint(state, device)
    fake = schema.inverse(models.generate(generator, len(real), cfg.seed, device).numpy())
    # Both sides pass through the same inverse -> transform, so integer rounding is shared.
    real_x, fake_x = schema.transform(real), schema.transform(fake)
    results = {name: function(real_x, fake_x) for name, (function, _, _) in METRICS.items()}

    ideals = {name: f"{ideal} ({direction})" for name, (_, ideal, direction) in METRICS.items()}
    console.print(f"{path}: {state['stage']} step {state['step']}")
    console.print(metrics_table(f"vs {len(real)} held-out real rows", results, ideals))
    record = {"checkpoint": str(path), "stage": state["stage"], "step": state["step"],
              "real_rows": len(real), **results}
    (run_dir() / "metrics.json").write_text(json.dumps(record, indent=2))
    return results["fd"]


def held_out_rows(cfg, state: dict) -> pd.DataFrame:
    """The rows the checkpoint's run held out, or the held-out split of data=... when given."""
    if data_given_on_command_line():
        return split_table(load_table(cfg.data), cfg.data).holdout
    data_cfg = OmegaConf.create(state["config"]["data"])
    table = load_table(data_cfg)
    rows = state["split"]["holdout_rows"].cpu().numpy()
    if not set(rows) <= set(table.index):
        raise UserError(f"the held-out rows of {data_cfg.path or data_cfg.name} changed since "
                        "training; pass data=... to evaluate on a new split")
    return table.loc[rows]
