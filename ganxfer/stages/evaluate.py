"""ganxfer evaluate ckpt=PATH|latest|[A,B,...] [metrics=[...]]: compare each checkpoint's samples
with the same real rows: those the first checkpoint's run held out, or the held-out split of data=....
Every distance is measured in one space fitted on those real rows (metrics.Space), so no
checkpoint's own scaling, and no order of checkpoints, changes a number."""

import json
from dataclasses import asdict
from pathlib import Path

import pandas as pd
import torch

from ganxfer import checkpoint, metrics, models
from ganxfer.data import FitOptions, Schema, load_table, split_table
from ganxfer.data.images import pixel_range
from ganxfer.data.inference import infer_kind
from ganxfer.errors import UserError
from ganxfer.files import atomic_write
from ganxfer.figures import (breakdown_tables, correlations_plot, image_grid, image_grids, marginals_plot, metrics_table,
                             pca_plot)
from ganxfer.metrics import METRICS, Comparison, Space, evaluate, ideal, quality_breakdown
from ganxfer.runtime import console, pick_device, run_dir
from ganxfer.settings import Data, Settings, group_from_saved
from ganxfer.training.sampling import sampler


def run(cfg) -> float:
    """Returns the (first) checkpoint's data-space Fréchet distance, the number a sweeper minimises."""
    settings = Settings.from_config(cfg)
    names = chosen_metrics(settings.metrics)
    device = pick_device(settings.trainer.device)
    paths = checkpoint_paths(settings.ckpt)
    states = [checkpoint.load(path, device) for path in paths]
    first = Schema.from_dict(states[0]["schema"])  # every checkpoint must generate its columns
    tables = {}  # each data config's rows, read once (a folder of images is decoded once per run)
    table, real, label, data = evaluation_rows(settings, states[0], tables)
    reference = table.drop(index=real.index)  # real rows outside the comparison: features are learnt on them
    space = comparison_space(data, table, real[[name for name in real.columns if name in first.names]])
    out = run_dir()
    records = []
    for number, (path, state) in enumerate(zip(paths, states), start=1):
        schema = Schema.from_dict(state["schema"])
        check_same_columns(first, schema, path)
        labels = labels_for(schema, real, settings.seed)
        with_label = schema.condition is not None and schema.condition.column == label
        fake = synthetic_rows(state, schema, len(real), settings.seed, device, labels, with_label=with_label)
        train, holdout = generator_split(state, tables)
        comparison = Comparison(real, fake, space, label, reference=reference, train=train, holdout=holdout,
                                cache_dir=out, seed=settings.seed, categorical=space.categorical,
                                image_shape=first.image_shape)
        records.append(evaluate_checkpoint(settings, path, state, comparison, space, labels, names, device))
        write_plots(comparison, out, f"ckpt{number}_" if len(paths) > 1 else "", first.picture_shape)
    if first.image_shape is not None:
        image_grid(real[first.names].to_numpy(), first.picture_shape, out / "real_samples.png")
    show(records, [result for name in names for result in METRICS[name].ideals])
    text = json.dumps(records[0] if len(records) == 1 else records, indent=2)
    atomic_write(out / "metrics.json", lambda file: file.write(text), binary=False)
    plots = ", ".join(sorted(path.name for path in out.glob("*.png")))
    console.print(f"wrote {out / 'metrics.json'} and the plots ({plots}) to {out}")
    return records[0].get("fd", float("nan"))  # NaN: too few rows to measure (the reason is shown)


def evaluate_checkpoint(settings: Settings, path, state: dict, comparison: Comparison, space: Space, labels, names: list[str],
                        device) -> dict:
    """One checkpoint's record: the chosen metrics of its comparison, per label on request, the
    quality score's breakdown by column, and the space the distances were measured in.
    `labels`: those its synthetic rows were made for."""
    schema, real = Schema.from_dict(state["schema"]), comparison.real
    # Per label first: a model without labels is refused before the longer metrics run.
    by_label = (per_class(state, schema, comparison.scale, real, labels, settings.seed, device)
                if settings.per_class else None)
    results, skipped = evaluate(comparison, names)
    if by_label is not None:
        results["per_class"] = by_label
        console.print(metrics_table(f"{path}: per label", by_label, ideal))
    record = {"checkpoint": str(path), "stage": state["stage"], "step": state["step"], "real_rows": len(real),
              "space": space.describe(), **results, "skipped": skipped}
    if "quality_score" in results:  # which columns, and which pairs, the model gets wrong
        columns = comparison.columns
        record["quality_breakdown"] = quality_breakdown(real[columns], comparison.fake[columns],
                                                        categorical=comparison.categorical)
    return record


def chosen_metrics(spec) -> list[str]:
    """metrics=null -> all; metrics=[a,b] -> those. fd always comes first: it is the returned number."""
    names = list(METRICS) if spec is None else [spec] if isinstance(spec, str) else list(spec)
    unknown = [str(name) for name in names if name not in METRICS]
    if unknown:
        raise UserError(f"unknown metric(s): {', '.join(unknown)}; choose from: {', '.join(METRICS)}")
    return list(dict.fromkeys(["fd", *names]))


def checkpoint_paths(spec) -> list[Path]:
    specs = list(spec) if isinstance(spec, list) else [spec]
    if not specs:
        raise UserError("ckpt=[] names no checkpoint: give ckpt=PATH or ckpt=[PATH,PATH,...]")
    return [checkpoint.resolve(one, checkpoint.LATEST_OF["evaluate"]) for one in specs]


def evaluation_rows(settings: Settings, state: dict, tables: dict
                    ) -> tuple[pd.DataFrame, pd.DataFrame, str | None, Data]:
    """(all rows of the data, the real rows to compare with, the label column, the data settings
    that read them): the rows the checkpoint's run held out (data=from_checkpoint, the default),
    or the held-out split of the data chosen for this run."""
    if settings.data.kind != "checkpoint":
        table = loaded(settings.data, tables)
        return table, split_table(table, settings.data).holdout, settings.data.label, settings.data
    data = group_from_saved("data", state["config"]["data"])
    table = loaded(data, tables, checkpoint.domain(state))
    real = recorded_rows(state, table, "holdout_rows")
    if real is None:
        raise UserError(f"the held-out rows of {data.path or data.name} changed since "
                        "training; pass data=... to evaluate on a new split")
    return table, real, data.label, data


def comparison_space(data: Data, table: pd.DataFrame, real: pd.DataFrame) -> Space:
    """The space every checkpoint's samples are compared in, fitted on the `real` rows alone.
    Which columns are categories is read from all rows of the data, as training reads it
    (data.categorical and the rest); images keep the data's pixel range, as every model of them does."""
    if data.shape is not None:
        low, high = pixel_range(float(real.min().min()), float(real.max().max()), data.pixel_range)
        return Space.of_pixels(real.columns, low, high)
    options = FitOptions.from_settings(data)
    categorical = {name for name in real.columns if infer_kind(table[name], options) in ("categorical", "constant")}
    return Space.fit(real, categorical, mark_gaps=options.missing == "model")


def generator_split(state: dict, tables: dict) -> tuple[pd.DataFrame | None, pd.DataFrame | None]:
    """The rows the checkpoint trained on and held out, from its own data (for memorisation and
    utility); None when those data are gone or changed since."""
    try:
        table = loaded(group_from_saved("data", state["config"]["data"]), tables, checkpoint.domain(state))
    except UserError:
        return None, None
    return recorded_rows(state, table, "train_rows"), recorded_rows(state, table, "holdout_rows")


def loaded(data: Data, tables: dict, domain: str | None = None) -> pd.DataFrame:
    """load_table, once per distinct data settings (and domain): `tables` keeps what this run has read."""
    key = json.dumps([asdict(data), domain], sort_keys=True, default=str)
    if key not in tables:
        tables[key] = load_table(data, domain)
    return tables[key]


def recorded_rows(state: dict, table: pd.DataFrame, key: str) -> pd.DataFrame | None:
    rows = state["split"][key].cpu().numpy()
    return table.loc[rows] if set(rows) <= set(table.index) else None


def check_same_columns(first: Schema, other: Schema, path) -> None:
    if set(other.names) != set(first.names):
        raise UserError(f"{path} generates other columns than the first checkpoint "
                        f"({', '.join(other.names[:5])}... vs {', '.join(first.names[:5])}...): "
                        "only checkpoints of the same data can be compared")


def synthetic_rows(state: dict, schema: Schema, n: int, seed: int, device, labels=None,
                   with_label: bool = False) -> pd.DataFrame:
    """n rows from the checkpoint's generator, in original units (integer columns rounded, as
    `sample` writes them), so that real and synthetic rows then pass through the same scaling.
    A conditional generator makes them for `labels`; `with_label` adds the label column."""
    generator = sampler(state, device)
    generated = models.generate(generator, n, seed, device, labels=labels).numpy()
    return schema.inverse(generated, labels.numpy() if with_label else None)


def labels_for(schema: Schema, real: pd.DataFrame, seed: int):
    """A conditional model generates for the real rows' own labels (when the real rows have
    them), so that both sides have the same label mix; otherwise at its training proportions."""
    condition = schema.condition
    if condition is None:
        return None
    if condition.column in real.columns:
        return torch.from_numpy(condition.indices(real[condition.column]))
    return condition.draw(len(real), seed)


def per_class(state: dict, schema: Schema, scale, real: pd.DataFrame, labels, seed: int, device) -> dict:
    """fd and mmd2_rbf between each label's real rows and as many rows generated for that label
    (nothing for a label with a single real row)."""
    condition = schema.condition
    if condition is None or condition.column not in real.columns:
        raise UserError("per_class=true compares a conditional model's labels one by one; this model is "
                        "unconditional, or the real rows have no label column" +
                        ("" if condition is None else f" {condition.column!r}"))
    results = {}
    for index in labels.unique().tolist():
        rows = real[(labels == index).numpy()]
        fake = synthetic_rows(state, schema, len(rows), seed, device, torch.full((len(rows),), index))
        quick = metrics.quick(scale(rows), scale(fake), seed) if len(rows) >= 2 else {}
        results[str(condition.values[index])] = quick
    return results


def write_plots(comparison: Comparison, out: Path, prefix: str, picture_shape) -> None:
    columns = comparison.columns
    real, fake = comparison.real[columns], comparison.fake[columns]
    marginals_plot(real, fake, out / f"{prefix}marginals.png")
    correlations_plot(real, fake, out / f"{prefix}correlations.png")
    pca_plot(comparison.real_x, comparison.fake_x, out / f"{prefix}pca.png")
    if picture_shape is not None:
        image_grid(fake.to_numpy(), picture_shape, out / f"{prefix}samples.png")
        image_grids([real.to_numpy(), fake.to_numpy()], picture_shape, out / f"{prefix}real_vs_synthetic.png")


def show(records: list[dict], result_names: list[str]) -> None:
    """One table, a value column per checkpoint; then what was skipped, and why."""
    single = len(records) == 1
    columns = {"value" if single else f"#{number}": record for number, record in enumerate(records, start=1)}
    for column, record in columns.items():
        console.print(f"{'' if single else f'{column}: '}{record['checkpoint']}: {record['stage']} step {record['step']}")
    values = {column: {name: record[name] for name in result_names if name in record}
              for column, record in columns.items()}
    console.print(metrics_table(f"vs {records[0]['real_rows']} held-out real rows", values, ideal))
    console.print(f"distances in one space for every checkpoint: {records[0]['space']}")
    for column, record in columns.items():
        if "quality_breakdown" in record:
            for table in breakdown_tables("quality" if single else f"{column} quality", record["quality_breakdown"]):
                console.print(table)
    skipped = {}
    for column, record in columns.items():
        for name, reason in record["skipped"].items():
            skipped.setdefault((name, reason), []).append(column)
    for (name, reason), which in skipped.items():
        where = "" if single or len(which) == len(records) else f" ({', '.join(which)})"
        console.print(f"skipped {name}{where}: {reason}")
