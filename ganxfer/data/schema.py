"""The Schema records each generated column's name, kind and scaling statistics as plain data
(it travels inside checkpoints), maps rows to the generator's tanh range [-1, 1] and back."""

from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from ganxfer.errors import UserError


@dataclass
class Column:
    name: str
    kind: str  # "integer" (every value integral) or "continuous"
    low: float
    high: float


class Schema:
    def __init__(self, columns: list[Column]):
        self.columns = columns

    @property
    def names(self) -> list[str]:
        return [column.name for column in self.columns]

    @property
    def width(self) -> int:
        return len(self.columns)

    @classmethod
    def fit(cls, table: pd.DataFrame, exclude=()) -> "Schema":
        columns = []
        for name in table.columns:
            if name in exclude:
                continue
            values = _numeric(table[name], name)
            kind = "integer" if np.all(values == np.round(values)) else "continuous"
            columns.append(Column(str(name), kind, float(values.min()), float(values.max())))
        if not columns:
            raise UserError("the data have no columns to generate")
        return cls(columns)

    def transform(self, table: pd.DataFrame) -> np.ndarray:
        """Rows -> float32 array scaled so the training range maps onto [-1, 1]."""
        self.check_columns(table)
        out = np.empty((len(table), self.width), dtype=np.float32)
        for j, column in enumerate(self.columns):
            values = _numeric(table[column.name], column.name)
            span = column.high - column.low
            out[:, j] = 0.0 if span == 0 else 2 * (values - column.low) / span - 1
        return out

    def inverse(self, scaled: np.ndarray) -> pd.DataFrame:
        """Generator output -> rows with the original names; integers rounded into their range."""
        table = {}
        for j, column in enumerate(self.columns):
            values = (scaled[:, j].astype(np.float64) + 1) / 2 * (column.high - column.low) + column.low
            if column.kind == "integer":
                values = np.round(values)
            values = np.clip(values, column.low, column.high)
            table[column.name] = values.astype(np.int64) if column.kind == "integer" else values
        return pd.DataFrame(table)

    def check_columns(self, table: pd.DataFrame) -> None:
        missing = [name for name in self.names if name not in table.columns]
        if missing:
            raise UserError(
                f"the data lack column(s) the model generates: {', '.join(missing)}; "
                f"the model was trained on: {', '.join(self.names)}")

    def to_dict(self) -> dict:
        return {"columns": [asdict(column) for column in self.columns]}

    @classmethod
    def from_dict(cls, data: dict) -> "Schema":
        return cls([Column(**column) for column in data["columns"]])


def _numeric(series: pd.Series, name) -> np.ndarray:
    values = pd.to_numeric(series, errors="coerce")
    text = series[values.isna() & series.notna()]
    if len(text):
        raise UserError(f"column {name!r} holds text ({text.iloc[0]!r} in row {text.index[0]}): "
                        "only numeric columns can be generated; fix the value or drop the column")
    if values.isna().any():
        raise UserError(f"column {name!r} has {int(values.isna().sum())} missing value(s); "
                        "fill or drop them first")
    values = values.to_numpy(dtype=np.float64)
    if not np.isfinite(values).all():
        raise UserError(f"column {name!r} holds infinite values")
    return values
