"""What a person reads: rich tables in the terminal and PNG pictures in the run directory."""

from pathlib import Path

import numpy as np
from matplotlib import image
from rich.table import Table


def metrics_table(title: str, results: dict, ideals: dict) -> Table:
    table = Table(title=title)
    table.add_column("metric")
    table.add_column("value", justify="right")
    table.add_column("ideal")
    for name, value in results.items():
        table.add_row(name, f"{value:.4g}", ideals[name])
    return table


def image_grid(rows: np.ndarray, shape, path: Path, side: int = 8, zoom: int = 4) -> None:
    """Tile the first side*side rows, each reshaped to `shape` (H, W), into one PNG (dark = high)."""
    images = rows[: side * side].reshape(-1, *shape).astype(np.float64)
    images = (images - images.min()) / (np.ptp(images) or 1.0)
    height, width = shape[0] * zoom, shape[1] * zoom
    canvas = np.full((side * (height + 1) + 1, side * (width + 1) + 1), 0.4)  # grey grid lines
    for k, picture in enumerate(images):
        top, left = 1 + (k // side) * (height + 1), 1 + (k % side) * (width + 1)
        canvas[top: top + height, left: left + width] = np.kron(picture, np.ones((zoom, zoom)))
    image.imsave(path, canvas, cmap="gray_r", vmin=0, vmax=1)
