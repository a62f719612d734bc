"""ganxfer sample ckpt=PATH|latest n=N out=FILE.csv (or FILE.parquet): write synthetic rows with the
original columns;
for an image model, out=DIR writes them as PNG files (a sub-folder per label when conditional).
A conditional model: `label=VALUE` writes n rows of that label, `per_class=N` N rows of every
label; by default the labels follow the training proportions."""

from pathlib import Path

import torch

from ganxfer import checkpoint, models
from ganxfer.data import Schema
from ganxfer.data.image_folder import write_image_folder
from ganxfer.data.parquet import write_parquet
from ganxfer.errors import UserError
from ganxfer.files import atomic_write
from ganxfer.figures import image_grid
from ganxfer.runtime import console, pick_device, run_dir
from ganxfer.settings import Settings
from ganxfer.training.sampling import sampler


# The files sample writes, by their extension; an image model also writes a new folder of PNG
# files, named without one.
TABLE_SUFFIXES = (".csv", ".parquet")


def run(cfg) -> None:
    settings = Settings.from_config(cfg)
    out = output_path(settings.out)
    device = pick_device(settings.trainer.device)
    state = checkpoint.load(checkpoint.resolve(settings.ckpt, checkpoint.LATEST_OF["sample"]), device)
    schema = Schema.from_dict(state["schema"])
    generator = sampler(state, device)
    labels = chosen_labels(schema, settings.n, settings.label, settings.per_class, settings.seed)
    n = settings.n if labels is None else len(labels)
    generated = models.generate(generator, n, settings.seed, device, labels=labels).numpy()
    rows = schema.inverse(generated, None if labels is None else labels.numpy())
    if schema.image_shape is not None and out.suffix.lower() not in TABLE_SUFFIXES:
        folders = None if labels is None else rows[schema.condition.column].to_numpy()
        pixels = schema.columns[0]  # every pixel shares one range
        count = write_image_folder(rows[schema.names].to_numpy(), schema.image_shape, (pixels.low, pixels.high),
                                   out, folders)
        console.print(f"wrote {count} PNG images to {out.resolve()}" + ("" if folders is None else ", a folder per label"))
    else:
        _write_table(rows, out)
        # The whole path: out= is relative to where the command ran, which sample.log does not say.
        console.print(f"wrote {len(rows)} rows x {rows.shape[1]} columns to {out.resolve()}")
    if schema.image_shape is not None:
        image_grid(rows[schema.names].to_numpy(), schema.picture_shape, run_dir() / "samples.png")


def output_path(out: str | None) -> Path:
    """Where out= says to write, refused before the checkpoint is read when its extension names
    a format that sample does not write (its rows would be CSV text under another name)."""
    if not out:
        return run_dir() / "samples.csv"
    path = Path(out)
    if path.suffix and path.suffix.lower() not in TABLE_SUFFIXES:
        raise UserError(f"out={out}: sample writes {' and '.join(TABLE_SUFFIXES)} files, and for an image model a "
                        f"new folder of PNG files (out=DIR, a name without an extension), not {path.suffix} files; "
                        f"give e.g. out={path.with_suffix('.csv')}")
    return path


def chosen_labels(schema: Schema, n: int, label, per_class: int | None, seed: int) -> torch.Tensor | None:
    """The label index of each row to write; None for an unconditional model."""
    condition = schema.condition
    if condition is None:
        if label is not None or per_class is not None:
            raise UserError("label= and per_class= choose the labels of a conditional model; this "
                            "checkpoint's model is unconditional")
        return None
    if label is not None and per_class is not None:
        raise UserError("give label=VALUE (n rows of one label) or per_class=N (N rows of each), not both")
    if label is not None:
        return torch.full((n,), condition.index_of(label), dtype=torch.long)
    if per_class is not None:
        if per_class < 1:
            raise UserError(f"per_class={per_class}: ask for at least one row of each label")
        return torch.arange(len(condition.values)).repeat_interleave(per_class)
    return condition.draw(n, seed)


def _write_table(rows, out: Path) -> None:
    """CSV, or Parquet when `out` ends in .parquet."""
    if not out.parent.is_dir():
        raise UserError(f"out={out}: folder {out.parent} does not exist")
    if out.is_dir():
        raise UserError(f"out={out} is a folder: give the file to write, e.g. out={out / 'samples.csv'}")
    try:
        if out.suffix.lower() == ".parquet":
            atomic_write(out, lambda file: write_parquet(rows, file))
        else:
            atomic_write(out, lambda file: rows.to_csv(file, index=False), binary=False)
    except OSError as err:  # a folder this user may not write in, a full disk
        raise UserError(f"out={out} cannot be written ({err.strerror}): give out= a file in a writable folder") from None
