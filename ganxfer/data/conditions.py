"""The label a conditional model is conditioned on: which values it knows (one embedding row
each, in this order), how often each occurred in training, and where the label column goes in
written rows. Plain data, so it travels inside the checkpoint's schema."""

from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from ganxfer.errors import UserError


@dataclass(frozen=True)
class Condition:
    column: str
    values: list        # the known labels; label index i is values[i]
    counts: list[int]   # training rows per label: unlabelled samples follow these proportions
    position: int       # the label column's place among the written columns

    @classmethod
    def fit(cls, table: pd.DataFrame, train: pd.DataFrame, column: str, generated: list[str],
            known: list | None = None) -> "Condition":
        """The labels of `table` (every row, so held-out ones are known too), after `known` (a
        source model's labels, which keep their embedding rows) when given."""
        if column not in table.columns:
            raise UserError(f"the data have no label column {column!r} to condition on")
        if table[column].isna().any():
            raise UserError(f"the label column {column!r} has gaps: every row needs a label to condition on")
        known = list(known or [])
        seen = {str(value) for value in known}
        new = [value for value in _sorted(pd.unique(table[column]).tolist()) if str(value) not in seen]
        condition = cls(column, known + new, [], _position(table, column, generated))
        counts = np.bincount(condition.indices(train[column]), minlength=len(condition.values))
        return cls(column, condition.values, counts.tolist(), condition.position)

    def extended(self, table: pd.DataFrame, train: pd.DataFrame, generated: list[str]) -> "Condition":
        """This (a source model's) condition, with the labels of `table` it does not know added
        after its own, and the training counts of `train`."""
        return Condition.fit(table, train, self.column, generated, known=self.values)

    def indices(self, labels: pd.Series) -> np.ndarray:
        lookup = {str(value): index for index, value in enumerate(self.values)}
        found = labels.astype(str).map(lookup)
        if found.isna().any():
            self.index_of(labels[found.isna()].iloc[0])  # raises, naming the labels known
        return found.to_numpy(dtype=np.int64, copy=True)  # writable: it becomes a tensor

    def index_of(self, label) -> int:
        for index, value in enumerate(self.values):
            if str(value) == str(label):
                return index
        raise UserError(f"label {label!r} is not one the model knows; {self.column!r} takes: "
                        f"{', '.join(map(str, self.values))}")

    def decode(self, indices: np.ndarray) -> np.ndarray:
        return pd.Series(self.values).to_numpy()[indices]

    def draw(self, n: int, seed: int) -> torch.Tensor:
        """n label indices drawn at the training proportions, reproducible by seed."""
        rng = torch.Generator().manual_seed(seed)
        return torch.multinomial(torch.tensor(self.counts, dtype=torch.float64), n, replacement=True, generator=rng)

    def to_dict(self) -> dict:
        return {"column": self.column, "values": list(self.values), "counts": list(self.counts),
                "position": self.position}

    @classmethod
    def from_dict(cls, data: dict) -> "Condition":
        return cls(data["column"], list(data["values"]), list(data["counts"]), data["position"])


def _sorted(values: list) -> list:
    try:
        return sorted(values)
    except TypeError:  # mixed kinds (numbers and text): order them as text
        return sorted(values, key=str)


def _position(table: pd.DataFrame, column: str, generated: list[str]) -> int:
    """How many generated columns come before the label column in the data."""
    before = list(table.columns[: table.columns.get_loc(column)])
    return sum(name in generated for name in before)
