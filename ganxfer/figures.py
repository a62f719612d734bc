"""What a person reads: rich tables in the terminal and PNG pictures in the run directory."""

from pathlib import Path

import numpy as np
import pandas as pd
from pandas.api.types import is_numeric_dtype
from rich.table import Table

from ganxfer.metrics import correlations, is_categorical
from ganxfer.training_log import LOG_COLUMNS

MAX_PANELS = 16  # marginal plots of the first this many columns: more would be unreadable


def titled_table(title: str) -> Table:
    """A table at least as wide as its title, where the terminal allows: rich wraps a title to its
    table's width, and a narrow table would break a long title into a column of fragments."""
    return Table(title=title, min_width=len(title))


def metrics_table(title: str, results: dict[str, dict], ideal) -> Table:
    """One row per metric, one value column per compared item (results: item -> {metric: value}),
    and the ideal value given by ideal(metric)."""
    table = titled_table(title)
    table.add_column("metric", overflow="fold")  # wrapped, never cut, in a narrow terminal or a pipe
    for item in results:
        table.add_column(item, justify="right", overflow="fold")
    table.add_column("ideal", overflow="fold")
    names = list(dict.fromkeys(name for values in results.values() for name in values))
    for name in names:
        cells = [f"{values[name]:.4g}" if name in values else "-" for values in results.values()]
        table.add_row(name, *cells, ideal(name))
    return table


def breakdown_tables(title: str, breakdown: dict, shown: int = 10) -> list[Table]:
    """The quality score's parts (metrics.tabular.quality_breakdown): the columns whose shape
    is reproduced worst, then the worst column pairs."""
    shapes = list(breakdown["column_shapes"].items())
    # A table of many columns shows its worst ones: the title says so, lest the others seem lost.
    how_many = f": {shown} of {len(shapes)}, all in metrics.json" if len(shapes) > shown else ""
    columns = titled_table(f"{title}: column shapes, worst first{how_many} (1 = as the real rows)")
    for heading in ("column", "test", "score"):
        columns.add_column(heading, justify="right" if heading == "score" else "left", overflow="fold")
    for name, part in shapes[:shown]:
        columns.add_row(str(name), part["test"], f"{part['score']:.3f}")
    pairs = titled_table(f"{title}: column pairs, worst first (correlation similarity)")
    for heading in ("columns", "real correlation", "synthetic correlation", "score"):
        pairs.add_column(heading, justify="left" if heading == "columns" else "right", overflow="fold")
    for pair in breakdown["worst_column_pairs"]:
        pairs.add_row(" & ".join(map(str, pair["columns"])), f"{pair['real_correlation']:.3f}",
                      f"{pair['synthetic_correlation']:.3f}", f"{pair['score']:.3f}")
    return [columns, pairs] if breakdown["worst_column_pairs"] else [columns]


def image_grid(rows: np.ndarray, shape, path: Path, side: int = 8, zoom: int = 4) -> None:
    """Tile the first side*side rows into one PNG: `shape` (H, W) draws each row in grey (dark =
    high), (3, H, W) in colour."""
    from matplotlib import image  # imported on use: a run without images never pays for matplotlib

    image.imsave(path, _grid(rows, shape, side, zoom))


def image_grids(grids: list[np.ndarray], shape, path: Path, side: int = 8, zoom: int = 4) -> None:
    """Several grids side by side in one PNG, left to right (real images beside samples), each
    scaled to its own range as image_grid does, with a white margin between them."""
    from matplotlib import image  # imported on use, as in image_grid

    canvases = [_grid(rows, shape, side, zoom) for rows in grids]
    margin = np.ones((canvases[0].shape[0], 4 * zoom, 3))
    image.imsave(path, np.concatenate([part for canvas in canvases for part in (canvas, margin)][:-1], axis=1))


def _grid(rows: np.ndarray, shape, side: int, zoom: int) -> np.ndarray:
    """An RGB canvas in [0, 1] of the first side*side rows, with grey lines between them."""
    colour = len(shape) == 3
    images = rows[: side * side].reshape(-1, *shape).astype(np.float64)
    images = (images - images.min()) / (np.ptp(images) or 1.0)
    images = images.transpose(0, 2, 3, 1) if colour else np.repeat(1.0 - images[..., None], 3, axis=3)
    height, width = images.shape[1] * zoom, images.shape[2] * zoom
    canvas = np.full((side * (height + 1) + 1, side * (width + 1) + 1, 3), 0.4)
    for k, picture in enumerate(images):
        top, left = 1 + (k // side) * (height + 1), 1 + (k % side) * (width + 1)
        canvas[top: top + height, left: left + width] = picture.repeat(zoom, axis=0).repeat(zoom, axis=1)
    return canvas


def marginals_plot(real: pd.DataFrame, fake: pd.DataFrame, path: Path):
    """Real against synthetic distribution of each of the first MAX_PANELS columns: bar charts of
    category shares for text, booleans and numbers of few whole values, histograms on shared bins
    for the others. Returns the figure, as drawn into `path`."""
    names = list(real.columns[:MAX_PANELS])
    width = int(np.ceil(np.sqrt(len(names))))
    height = int(np.ceil(len(names) / width))
    figure = _figure(figsize=(3 * width, 2.4 * height), layout="constrained")
    axes = figure.subplots(height, width, squeeze=False)
    for axis, name in zip(axes.flat, names):
        bins = histogram_bins(real[name], fake[name])
        if bins is None:
            _category_bars(axis, real[name], fake[name])
        else:
            _histograms(axis, real[name], fake[name], bins)
        axis.set_title(str(name), fontsize=9)
        axis.tick_params(labelsize=6)
    for axis in axes.flat[len(names):]:
        axis.set_visible(False)
    axes.flat[0].legend(fontsize=7)
    _save(figure, path)
    return figure


def histogram_bins(real: pd.Series, fake: pd.Series, bins: int = 30) -> np.ndarray | None:
    """The bin edges that real and synthetic values share in a column's histogram; None for a
    column drawn as one bar per value. Judged on both sets of values together: a few held-out
    rows of an integer column may take few values where the synthetic rows take hundreds, too
    many bars to label or compare. Whole numbers get bins of a whole number of values each,
    edges half-way between, so that no bin holds one value more than its neighbours."""
    both = pd.concat([real, fake], ignore_index=True)
    if is_categorical(both):
        return None
    present = both.dropna().to_numpy(np.float64)
    if len(present) == 0 or not np.all(present == np.round(present)):
        return np.histogram_bin_edges(present, bins=bins)
    low, high = present.min(), present.max()
    values_per_bin = int(np.ceil((high - low + 1) / bins))
    return np.arange(low - 0.5, high + 0.5 + values_per_bin, values_per_bin)


def _category_bars(axis, real: pd.Series, fake: pd.Series) -> None:
    shares = pd.DataFrame({"real": real.value_counts(normalize=True, dropna=False),
                           "synthetic": fake.value_counts(normalize=True, dropna=False)}).fillna(0.0)
    if is_numeric_dtype(shares.index):
        shares = shares.sort_index()  # numbers in order; text in order of frequency
    positions = np.arange(len(shares))
    for offset, label in ((-0.2, "real"), (0.2, "synthetic")):
        axis.bar(positions + offset, shares[label], width=0.4, label=label)
    axis.set_xticks(positions, [str(value) for value in shares.index])


def _histograms(axis, real: pd.Series, fake: pd.Series, bins: np.ndarray) -> None:
    present = {"real": real.dropna().to_numpy(np.float64), "synthetic": fake.dropna().to_numpy(np.float64)}
    for label, values in present.items():
        axis.hist(values, bins=bins, density=True, histtype="step", label=label)


def correlations_plot(real: pd.DataFrame, fake: pd.DataFrame, path: Path) -> None:
    """Heatmaps of the real and synthetic correlation matrices of the numeric columns, and of their
    difference (nothing is drawn for fewer than two numeric columns)."""
    numeric = list(real.select_dtypes("number").columns)
    if len(numeric) < 2:
        return
    real_corr, fake_corr = correlations(real[numeric]), correlations(fake[numeric])
    panels = {"real": real_corr, "synthetic": fake_corr, "synthetic - real": fake_corr - real_corr}
    figure = _figure(figsize=(13, 4.2), layout="constrained")
    axes = figure.subplots(1, 3)
    for axis, (title, matrix) in zip(axes, panels.items()):
        shown = axis.imshow(matrix, cmap="RdBu_r", vmin=-1, vmax=1)
        axis.set_title(title)
    figure.colorbar(shown, ax=axes, shrink=0.8, label="Pearson correlation")
    _save(figure, path)


def pca_plot(real: np.ndarray, fake: np.ndarray, path: Path) -> None:
    """Both samples projected on the first two principal components of the real rows (nothing is
    drawn for fewer than two real rows: they have no direction of variance)."""
    if len(real) < 2:
        return
    from sklearn.decomposition import PCA  # imported on use: scikit-learn takes a second to import

    pca = PCA(n_components=min(2, real.shape[1], len(real))).fit(real)
    figure = _figure(figsize=(5.5, 5), layout="constrained")
    axis = figure.subplots()
    for rows, name in ((real, "real"), (fake, "synthetic")):
        points = pca.transform(rows)
        axis.scatter(points[:, 0], points[:, -1], s=6, alpha=0.5, label=name)
    shares = pca.explained_variance_ratio_
    axis.set_xlabel(f"PC1 ({shares[0]:.0%} of the real variance)")
    axis.set_ylabel(f"PC2 ({shares[-1]:.0%})" if len(shares) > 1 else "PC1")
    axis.legend()
    _save(figure, path)


def _figure(**settings):
    """A matplotlib Figure drawn straight to a file: no display, no pyplot state to close."""
    from matplotlib.figure import Figure  # imported on use: matplotlib takes a while to import

    return Figure(**settings)


def _save(figure, path: Path) -> None:
    figure.savefig(path, dpi=90)


def training_curves(log: pd.DataFrame, path: Path) -> None:
    """Losses, and the metrics where they were computed, against the training step."""
    metric_columns = [name for name in log.columns if name not in LOG_COLUMNS
                      and log[name].notna().any()]
    figure = _figure(figsize=(6, 2.5 * (1 + len(metric_columns))), layout="constrained")
    axes = figure.subplots(1 + len(metric_columns), 1, sharex=True, squeeze=False)
    axes = axes[:, 0]
    axes[0].plot(log["step"], log["d_loss"], label="D loss")
    axes[0].plot(log["step"], log["g_loss"], label="G loss")
    axes[0].legend()
    for axis, name in zip(axes[1:], metric_columns):
        measured = log.dropna(subset=[name])
        axis.plot(measured["step"], measured[name], marker="o", markersize=3)
        axis.set_ylabel(name)
    axes[-1].set_xlabel("step")
    _save(figure, path)
