"""The training rows as the loop sees them, wherever they are kept: one interface, `Rows`.

Two kinds implement it:
- `DeviceRows` (here): every encoded training row in one tensor, on the device the run trains on
  (on the host until the run moves it there): a step's batch is drawn on the device, with no
  round trip through the host;
- `StreamedRows` (data/stream.py): Parquet data too large for memory, read one window of row
  groups at a time; a step draws from its window, and the reader's position goes into each
  checkpoint so that a resumed run reads the same windows.

A new source of training rows (another store, another kind of stream) implements `Rows`; the
loop, the writer and the resume need nothing else of it."""

from typing import Protocol

import torch


class Rows(Protocol):
    device: torch.device

    def __len__(self) -> int:
        """How many training rows there are (every process's together)."""

    def to(self, device) -> "Rows":
        """The same rows, drawn on `device`."""

    def for_step(self, step: int) -> torch.Tensor:
        """The rows step `step` (from 1) draws its batches from, on the device."""

    def position(self, step: int) -> dict | None:
        """Where the rows stand after step `step`, saved in the checkpoint (None: nothing to save)."""

    def resume(self, saved: dict | None, step: int) -> None:
        """Go on from the position a checkpoint saved after step `step`; a UserError where these
        rows cannot stand there."""

    def held(self) -> torch.Tensor | None:
        """Every row in one tensor, where all of them are held at once; None where they are not
        (streamed rows)."""

    def describe(self) -> str:
        """How the run's first line names these rows, e.g. "1797 training rows"."""

    def close(self) -> None:
        """Let go of what the rows hold besides memory (a thread reading ahead); may be called again."""


class DeviceRows:
    """Every training row in one tensor, drawn from by every step: rows in memory."""

    def __init__(self, tensor: torch.Tensor):
        self.tensor = tensor

    @property
    def device(self) -> torch.device:
        return self.tensor.device

    def __len__(self) -> int:
        return len(self.tensor)

    def to(self, device) -> "DeviceRows":
        return DeviceRows(self.tensor.to(device))

    def for_step(self, step: int) -> torch.Tensor:
        return self.tensor

    def position(self, step: int) -> None:
        return None  # the batches follow from the run's random stream alone, which is saved

    def resume(self, saved: dict | None, step: int) -> None:
        pass

    def held(self) -> torch.Tensor:
        return self.tensor

    def describe(self) -> str:
        return f"{len(self)} training rows"

    def close(self) -> None:
        pass
