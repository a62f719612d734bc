"""ganxfer sample ckpt=PATH|latest n=N out=FILE.csv: write synthetic rows with the original columns."""

from pathlib import Path

from ganxfer import checkpoint, models
from ganxfer.data import Schema
from ganxfer.errors import UserError
from ganxfer.files import atomic_write
from ganxfer.report import image_grid
from ganxfer.stages.common import console, pick_device, run_dir, sampler_from_checkpoint


def run(cfg) -> None:
    device = pick_device(cfg.trainer.device)
    state = checkpoint.load(checkpoint.resolve(cfg.ckpt), device)
    schema = Schema.from_dict(state["schema"])
    generator = sampler_from_checkpoint(state, device)
    rows = schema.inverse(models.generate(generator, cfg.n, cfg.seed, device).numpy())
    out = Path(cfg.out) if cfg.out else run_dir() / "samples.csv"
    _write_csv(rows, out)
    console.print(f"wrote {len(rows)} rows x {rows.shape[1]} columns to {out}")
    if schema.image_shape is not None:
        image_grid(rows.to_numpy(), schema.picture_shape, run_dir() / "samples.png")


def _write_csv(rows, out: Path) -> None:
    if not out.parent.is_dir():
        raise UserError(f"out={out}: folder {out.parent} does not exist")
    atomic_write(out, lambda file: rows.to_csv(file, index=False), binary=False)
