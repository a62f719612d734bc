"""The Schema: each generated column's kind and fitted transform, kept as plain data (it travels
inside checkpoints, which are read with torch.load(weights_only=True)). It maps table rows to
the generator's output space and generator output back to rows with the original columns.

The generator's output is laid out column by column; `layout` lists its blocks, ("tanh", width)
for scaled numbers and ("softmax", width) for a one-hot choice (a category, a mode, or
present/missing), so that a model can give each block the right activation."""

import numpy as np
import pandas as pd

from ganxfer.data.columns import CategoricalColumn, NumericColumn, column_from_dict
from ganxfer.data.conditions import Condition
from ganxfer.data.frames import without
from ganxfer.data.images import image_shape, picture_shape, pixel_columns
from ganxfer.data.inference import FitOptions, fit_column, infer_kind
from ganxfer.data.missing import check_no_empty_columns, report_gaps
from ganxfer.data.scalers import MinMax, fit_scaler
from ganxfer.errors import UserError

FORMAT = 2  # format 1 (ganxfer 0.1's first checkpoints) knew numeric columns only


class Schema:
    def __init__(self, columns: list, image_shape: tuple[int, int, int] | None = None,
                 condition: Condition | None = None):
        self.columns = columns
        self.image_shape = image_shape  # (channels, height, width) when every row is an image
        self.condition = condition  # the label of a conditional model: not generated, given

    def with_condition(self, condition: Condition | None) -> "Schema":
        return Schema(self.columns, self.image_shape, condition)

    @property
    def classes(self) -> int:
        """How many labels a conditional model built for this schema knows (0: unconditional)."""
        return len(self.condition.values) if self.condition else 0

    @property
    def names(self) -> list[str]:
        return [column.name for column in self.columns]

    @property
    def categorical(self) -> frozenset[str]:
        """The columns read as categories (constant ones too: they hold one category)."""
        return frozenset(column.name for column in self.columns if column.kind in ("categorical", "constant"))

    @property
    def layout(self) -> list[tuple[str, int]]:
        return [block for column in self.columns for block in column.blocks]

    @property
    def outputs(self) -> list[tuple]:
        """One label per generator output, in layout order: (column name, what the output means),
        e.g. ("city", "category", "Oslo") or ("income", "minmax"). Two schemas' outputs with the
        same label mean the same thing, which is how a network is carried over to other columns."""
        return [(column.name, *label) for column in self.columns for label in column.outputs]

    @property
    def width(self) -> int:
        return sum(width for _, width in self.layout)

    @property
    def picture_shape(self) -> tuple[int, ...] | None:
        return picture_shape(self.image_shape) if self.image_shape else None

    @classmethod
    def fit(cls, table: pd.DataFrame, exclude=(), options: FitOptions | None = None,
            kinds_from: pd.DataFrame | None = None) -> "Schema":
        """Infer each column's kind (data.categorical / data.continuous override it) and fit it
        on `table`. The kinds are inferred from `kinds_from` when given: the whole file, so
        that a bad value in a held-out row stops the run as surely as one in a training row."""
        options = options or FitOptions()
        table = without(table, exclude)
        if table.shape[1] == 0:
            raise UserError("the data have no columns to generate")
        options.check_names([str(name) for name in table.columns])
        check_no_empty_columns(table)
        reference = table if kinds_from is None else kinds_from
        columns = [fit_column(table[name], infer_kind(reference[name], options), options) for name in table.columns]
        report_gaps(table, options.missing)
        return cls(columns)

    @classmethod
    def fit_image(cls, table: pd.DataFrame, shape, pixel_range=None, exclude=()) -> "Schema":
        """Every column but `exclude` is a pixel of an image of `shape` ([C, H, W] or [H, W])."""
        shape = image_shape(shape)
        pixels = table.drop(columns=[name for name in exclude if name in table.columns])
        return cls(pixel_columns(pixels, shape, pixel_range), shape)

    def refit(self, table: pd.DataFrame, names: set[str] | None = None) -> "Schema":
        """The same columns, categories and missing indicators (so the same network layout),
        with the scaling of each numeric column in `names` (all, when None) fitted anew on
        `table` (data.refit)."""
        if self.image_shape is not None:
            return self  # the pixel range is the images' scale, shared by source and target
        return Schema([_refitted(column, table[column.name])
                       if isinstance(column, NumericColumn) and (names is None or column.name in names) else column
                       for column in self.columns])

    def spans(self, table: pd.DataFrame) -> dict[str, float]:
        """Numeric column -> the share of its range [low, high] that `table`'s values span (max −
        min over high − low; more than 1 where they reach past it). Columns of one value, or with
        no values in `table`, are left out."""
        if self.image_shape is not None:
            return {}
        shares = {}
        for column in self.columns:
            if isinstance(column, NumericColumn) and column.high > column.low and table[column.name].notna().any():
                low, high = _value_range(table[column.name])
                shares[column.name] = (high - low) / (column.high - column.low)
        return shares

    def with_ranges(self, ranges: dict[str, tuple[float, float]]) -> "Schema":
        """The same columns, each number's range widened to `ranges` (name -> exact minimum and
        maximum, e.g. from Parquet footers, where the schema was fitted on a sample): samples keep
        to the data's range, and min-max scaling maps it to [-1, 1]. Few-valued numbers keep their levels."""
        return Schema([_widened(column, *ranges[column.name]) if _widens(column, ranges) else column
                       for column in self.columns], self.image_shape, self.condition)

    def covering(self, table: pd.DataFrame) -> "Schema":
        """The same columns, each min-max scaled number whose values in `table` reach past its
        range widened to cover them too (data.range=widen): the source's ends are kept and moved
        out to the target's minimum or maximum. Other scalings, few-valued numbers and a range of
        one value keep theirs. This schema itself when none reaches past."""
        ranges = {}
        for column in self.columns:
            if _min_max_with_values(column, table):
                low, high = _value_range(table[column.name])
                if low < column.low or high > column.high:
                    ranges[column.name] = (low, high)
        return self.with_ranges(ranges) if ranges else self

    def with_new_values(self, table: pd.DataFrame) -> "Schema":
        """The same columns, extended by the values of `table` they have not seen: new categories
        appended (the known ones keep their generator outputs), and new values of few-valued
        numbers among those they keep to. The schema a finetune run trains with when the target
        domain brings new values."""
        grown = Schema([_with_new_values(column, table[column.name]) for column in self.columns],
                       self.image_shape, self.condition)
        return grown if grown.new_values(self) else self

    def new_values(self, source: "Schema") -> dict[str, list]:
        """Column -> the categories or levels this schema has beyond `source`'s (only columns with some)."""
        known = {column.name: _known_values(column) for column in source.columns}
        new = {column.name: [value for value in _known_values(column) if value not in known[column.name]]
               for column in self.columns}
        return {name: values for name, values in new.items() if values}

    def extends(self, source: "Schema") -> bool:
        """True when this schema's generator outputs are `source`'s with categories appended to
        some columns: networks built for it grow from the source's (transfer.categories)."""
        return self.names == source.names and all(
            _appends_categories(column, known) for column, known in zip(self.columns, source.columns))

    def transform(self, table: pd.DataFrame) -> np.ndarray:
        """Rows -> float32 array of `width` columns, laid out as `layout` says."""
        self.check_columns(table)
        encoded = np.empty((len(table), self.width), dtype=np.float32)
        for column, (start, stop) in zip(self.columns, self._spans()):
            encoded[:, start:stop] = column.encode(table[column.name])
        return encoded

    def inverse(self, encoded: np.ndarray, labels: np.ndarray | None = None) -> pd.DataFrame:
        """Generator output -> rows with the original names, order and dtypes; with the label
        indices a conditional model generated them for, the label column too, in its place."""
        decoded = [(column.name, column.decode(encoded[:, start:stop]))
                   for column, (start, stop) in zip(self.columns, self._spans())]
        if labels is not None:  # put in place before the frame is built: one insert per image pixel is slow
            decoded.insert(self.condition.position, (self.condition.column, self.condition.decode(labels)))
        # copy=False: each decoded column is new already; copying would hold the rows twice.
        return pd.DataFrame(dict(decoded), copy=False)

    def check_columns(self, table: pd.DataFrame) -> None:
        missing = [name for name in self.names if name not in table.columns]
        if missing:
            raise UserError(
                f"the data lack column(s) the model generates: {', '.join(missing)}; "
                f"the model was trained on: {', '.join(self.names)}")

    def _spans(self) -> list[tuple[int, int]]:
        stops = np.cumsum([sum(width for _, width in column.blocks) for column in self.columns])
        return list(zip([0, *stops[:-1].tolist()], stops.tolist()))

    def to_dict(self) -> dict:
        data = {"format": FORMAT, "columns": [column.to_dict() for column in self.columns],
                "image_shape": list(self.image_shape) if self.image_shape else None}
        if self.condition is not None:  # unconditional schemas stay as they were
            data["condition"] = self.condition.to_dict()
        return data

    @classmethod
    def from_dict(cls, data: dict) -> "Schema":
        if data.get("format") != FORMAT:
            raise UserError("the checkpoint's data schema is from an older ganxfer (numeric columns "
                            "only) and cannot be read by this one: train it again")
        shape, condition = data["image_shape"], data.get("condition")
        return cls([column_from_dict(column) for column in data["columns"]], tuple(shape) if shape else None,
                   Condition.from_dict(condition) if condition else None)


def _widens(column, ranges: dict) -> bool:
    return isinstance(column, NumericColumn) and column.levels is None and column.name in ranges


def _min_max_with_values(column, table: pd.DataFrame) -> bool:
    """A min-max scaled number of more than one value, keeping to no levels, with values in `table`."""
    return (_widens(column, table.columns) and isinstance(column.scaler, MinMax) and column.high > column.low
            and table[column.name].notna().any())


def _value_range(series: pd.Series) -> tuple[float, float]:
    values = pd.to_numeric(series.dropna()).to_numpy(dtype=np.float64)
    return float(values.min()), float(values.max())


def _widened(column: NumericColumn, low: float, high: float) -> NumericColumn:
    if column.dtype == "float32":  # the values as the run reads them (frames.compact)
        low, high = float(np.float32(low)), float(np.float32(high))
    low, high = min(low, column.low), max(high, column.high)
    scaler = MinMax(low, high) if isinstance(column.scaler, MinMax) else column.scaler
    return NumericColumn(column.name, column.kind, column.dtype, low, high, scaler, column.fill, column.missing_rate,
                         column.indicator, column.decimals, column.levels, column.file_dtype)


def _with_new_values(column, series: pd.Series):
    if isinstance(column, CategoricalColumn):
        return column.with_categories(column.unknown(series))
    if isinstance(column, NumericColumn):
        return column.with_levels(column.unknown(series))
    return column


def _known_values(column) -> list:
    if isinstance(column, CategoricalColumn):
        return column.categories
    return getattr(column, "levels", None) or []


def _appends_categories(column, known) -> bool:
    """`column`'s outputs are `known`'s, then (perhaps) new categories."""
    outputs, known_outputs = column.outputs, known.outputs
    return (outputs[:len(known_outputs)] == known_outputs
            and all(meaning == "category" for meaning, *_ in outputs[len(known_outputs):]))


def _refitted(column: NumericColumn, series: pd.Series) -> NumericColumn:
    values = series.dropna().to_numpy(dtype=np.float64)
    if len(values) == 0:
        raise UserError(f"column {column.name!r} has no values in the target data: nothing to refit it on")
    return NumericColumn(column.name, column.kind, column.dtype, float(values.min()), float(values.max()),
                         fit_scaler(column.scaler.name, values), float(np.median(values)),
                         float(series.isna().mean()), column.indicator, column.decimals, column.levels,
                         column.file_dtype)
