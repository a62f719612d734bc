"""transfer.remap=true: carry a source model over to target data whose columns differ.

The networks are built for the target's schema. Only two layers touch the data's columns: the
generator's last Linear (one row per output) and the discriminator's first Linear (one column
per input); every other layer is copied from the source as it is. In those two layers the
slices of the outputs that source and target share are copied, and the rest keep their fresh
initialisation. Outputs are matched by their labels (Schema.outputs): a numeric column's value,
a missing indicator, one category of a one-hot block. So a category new to the target is a new
output of its block, while the categories both know keep their weights."""

from dataclasses import dataclass

import torch
from rich.table import Table
from torch import nn

from ganxfer.data import Schema
from ganxfer.errors import UserError
from ganxfer.settings import Transfer
from ganxfer.transfer.layers import blocks


@dataclass
class OutputMap:
    """Which target outputs have a source counterpart, and where: target[i] <- source[i]."""

    target: torch.Tensor
    source: torch.Tensor

    @classmethod
    def between(cls, source: Schema, target: Schema) -> "OutputMap":
        position = {label: index for index, label in enumerate(source.outputs)}
        pairs = [(index, position[label]) for index, label in enumerate(target.outputs) if label in position]
        target_positions, source_positions = zip(*pairs) if pairs else ((), ())
        return cls(torch.tensor(target_positions, dtype=torch.long), torch.tensor(source_positions, dtype=torch.long))


def check_strategy(strategy, transfer: Transfer) -> None:
    """Strategies that need a source counterpart of every weight cannot start from remapped networks."""
    if strategy.needs_whole_source:
        raise UserError(f"transfer={transfer.name} weighs each weight by what it meant to the source "
                        "model, and the remapped networks have weights the source never had: with "
                        "transfer.remap=true choose full, l2sp (it anchors only the carried-over weights), "
                        "freeze_d, freeze_g, scale_shift, minegan, svd or scratch")
    if transfer.load_optimizer:
        raise UserError("transfer.load_optimizer=true needs networks shaped as the source's; "
                        "transfer.remap=true reshapes them: leave load_optimizer off")


def carry_over(generator: nn.Module, discriminator: nn.Module, generator_state: dict, discriminator_state: dict,
               source: Schema, target: Schema) -> dict[str, torch.Tensor]:
    """Load the source's weights into networks built for `target`. Returns, for each weight of
    the two remapped layers, a mask that is 1 where the weight was carried over from the source
    (keys as named_parameters, prefixed "g." or "d.")."""
    outputs = OutputMap.between(source, target)
    shared_g = _load(generator, generator_state, blocks(generator)[-1][0], outputs, data_axis=_output_axis)
    shared_d = _load(discriminator, discriminator_state, blocks(discriminator)[0][0], outputs, data_axis=_input_axis)
    return {**{f"g.{name}": mask for name, mask in shared_g.items()},
            **{f"d.{name}": mask for name, mask in shared_d.items()}}


def _output_axis(weight: torch.Tensor) -> int:
    return 0  # the output layer's weight and bias have one row per generated output


def _input_axis(weight: torch.Tensor) -> int | None:
    return 1 if weight.dim() == 2 else None  # one weight column per input; the bias is per hidden unit


def _load(network: nn.Module, source_state: dict, layer: nn.Module, outputs: OutputMap, data_axis
          ) -> dict[str, torch.Tensor]:
    """Every tensor of `source_state` but those of `layer`, whose weights are copied slice by
    slice along their data axis; the layer's other state (spectral norm's power-iteration
    vectors) starts afresh."""
    prefix = next(name for name, module in network.named_modules() if module is layer) + "."
    state = network.state_dict()
    state.update({key: value for key, value in source_state.items() if not key.startswith(prefix)})
    shared = {}
    for name, weight in layer.named_parameters():
        key = prefix + name
        axis = data_axis(weight)
        if axis is None:
            state[key], shared[key] = source_state[key], torch.ones_like(weight)
            continue
        carried = state[key].clone()
        carried.index_copy_(axis, outputs.target, source_state[key].index_select(axis, outputs.source))
        state[key] = carried
        shared[key] = torch.zeros_like(weight).index_fill_(axis, outputs.target, 1)
    network.load_state_dict(state)
    return shared


def column_table(source: Schema, target: Schema) -> Table:
    """Which columns the target shares with the source, which are new and which it lacks, and
    how many of each column's generator outputs start from the source's weights."""
    known = set(source.outputs)
    table = Table(title="transfer.remap: the target's columns against the source model's")
    for heading in ("column", "status", "outputs carried over", "new outputs"):
        table.add_column(heading, overflow="fold")
    for column in target.columns:
        labels = [(column.name, *label) for label in column.outputs]
        new = [label[1:] for label in labels if label not in known]
        if column.name in source.names:
            table.add_row(column.name, "shared", f"{len(labels) - len(new)} of {len(labels)}", _labels(new))
        else:
            table.add_row(column.name, "new in the target", f"0 of {len(labels)}", "all")
    for name in source.names:
        if name not in target.names:
            table.add_row(name, "missing from the target", "", "")
    return table


def _labels(labels: list[tuple], shown: int = 4) -> str:
    words = [" ".join(map(str, label)) for label in labels[:shown]]
    return ", ".join(words) + (f", ... ({len(labels)} in all)" if len(labels) > shown else "")
