"""Rows that are images, one pixel per column (the MNIST CSV layout: label,pixel0,...,pixel783).
Every pixel shares one scaling, the pixel range: detected as 0-1 or 0-255, or given with
data.pixel_range; samples come back in that range, as integers when the pixels were."""

import numpy as np
import pandas as pd
from pandas.api.types import is_integer_dtype, is_numeric_dtype

from ganxfer.data.columns import NumericColumn
from ganxfer.data.scalers import MinMax
from ganxfer.errors import UserError


def image_shape(shape) -> tuple[int, int, int]:
    """data.shape as (channels, height, width); [H, W] means one channel."""
    dims = [int(size) for size in shape]
    if len(dims) == 2:
        dims = [1, *dims]
    if len(dims) != 3 or min(dims) < 1:
        raise UserError(f"data.shape={list(shape)}: give [C, H, W], or [H, W] for one channel")
    return tuple(dims)


def pixel_columns(table: pd.DataFrame, shape: tuple[int, int, int], configured_range=None) -> list[NumericColumn]:
    """One column per pixel, all scaled alike from the pixel range to [-1, 1]."""
    channels, height, width = shape
    if table.shape[1] != channels * height * width:
        raise UserError(
            f"data.shape={list(shape)} needs {channels * height * width} pixel columns, but the data have "
            f"{table.shape[1]} (every column but the label is a pixel; data.drop=[...] leaves others out)")
    text = [str(name) for name in table.columns if not is_numeric_dtype(table[name])]
    if text:
        raise UserError(f"pixel column(s) {', '.join(text[:5])} hold text; image rows must be all numbers")
    gaps = int(table.isna().sum().sum())
    if gaps:
        raise UserError(f"{gaps} pixel value(s) are missing; image rows must be complete")
    low, high = pixel_range(float(table.min().min()), float(table.max().max()), configured_range)
    typed_integer = all(is_integer_dtype(table[name]) for name in table.columns)
    whole = typed_integer or bool(table.apply(lambda pixels: (pixels % 1 == 0).all()).all())
    scaler = MinMax(low, high)
    return [NumericColumn(str(name), "integer" if whole else "continuous", "int64" if typed_integer else "float64",
                          low, high, scaler, fill=low)
            for name in table.columns]


def pixel_range(lowest: float, highest: float, configured=None) -> tuple[float, float]:
    if configured is not None:
        low, high = (float(bound) for bound in configured)
    else:
        low, high = (0.0, 1.0) if highest <= 1 else (0.0, 255.0)
    if lowest < low or highest > high:
        raise UserError(f"pixel values span [{lowest:g}, {highest:g}], outside the pixel range [{low:g}, {high:g}]: "
                        "give the range with data.pixel_range=[LOW,HIGH]")
    return low, high


def check_pixel_range(source_pixel: NumericColumn, pixels: pd.DataFrame, configured_range=None) -> None:
    """Target images must be on the source model's pixel scale (0-255 for both, say)."""
    low, high = pixel_range(float(pixels.min().min()), float(pixels.max().max()), configured_range)
    if (low, high) != (source_pixel.low, source_pixel.high):
        raise UserError(f"the target's pixels are on a {low:g}-{high:g} scale, the source model's on a "
                        f"{source_pixel.low:g}-{source_pixel.high:g} scale: rescale the target images to it")


EIGHT_BIT = (0.0, 255.0)  # what a PNG file's pixels hold


def eight_bit(pixels: np.ndarray, pixel_range: tuple[float, float]) -> np.ndarray:
    """Decoded pixels (Schema.inverse: clipped to the range and, for whole-number images, rounded)
    as the uint8 values an image file holds. On the 0-255 scale they are written as decoded, with
    no arithmetic that could move a value across a rounding boundary, so that an image file and a
    table of the same sample hold the same numbers; another scale is mapped onto 0-255 and rounded."""
    low, high = (float(bound) for bound in pixel_range)
    if (low, high) != EIGHT_BIT:
        pixels = (pixels - low) / (high - low) * 255
    return np.clip(np.rint(pixels), 0, 255).astype(np.uint8)


def picture_shape(shape: tuple[int, int, int]) -> tuple[int, ...]:
    """The shape a sample grid draws one row as: (3, H, W) in colour for three channels, else
    (C*H, W) in grey, the channels stacked top to bottom."""
    channels, height, width = shape
    return tuple(shape) if channels == 3 else (channels * height, width)
