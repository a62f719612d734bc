"""A target that brings category values the source never saw: domain shift, not a wrong file.

The target's schema is the source's with each categorical column's list of categories extended
(data.Schema.with_new_values), so the networks built for it differ from the source's in two
layers only: the generator's last Linear has one more output row per new category, and the
discriminator's first Linear one more input column. Every source weight is carried over as it
is; each new category's row (in G) and column (in D) starts at the mean of its column's source
categories, so the generator first proposes it about as often as an average category, and the
discriminator first sees it as one. Every strategy can start from such networks: the anchors of
l2sp and ewc for the new weights are their start values, held with weight 0 (the `shared` masks)."""

import torch
from torch import nn

from ganxfer.data import Schema
from ganxfer.errors import UserError
from ganxfer.settings import Transfer
from ganxfer.transfer.layers import blocks


def starting_points(source: Schema, target: Schema) -> list[list[int]]:
    """For each target output, the source outputs it starts from: its own (one index), or for a
    new category every source category of its column (their mean)."""
    position = {label: index for index, label in enumerate(source.outputs)}
    starts = []
    for label in target.outputs:
        if label in position:
            starts.append([position[label]])
            continue
        column = label[0]
        siblings = [index for (name, meaning, *_), index in position.items()
                    if name == column and meaning == "category"]
        if not siblings:
            raise ValueError(f"output {label} is neither the source's nor a new category of a source column")
        starts.append(siblings)
    return starts


def carry_over(generator: nn.Module, discriminator: nn.Module, generator_state: dict, discriminator_state: dict,
               source: Schema, target: Schema, transfer: Transfer) -> dict[str, torch.Tensor]:
    """Load the source's weights into networks built for `target`, new categories started at
    their column's mean. Returns masks of the grown weights, 1 where a weight is the source's
    own and 0 where it is new (keys as named_parameters, prefixed "g." or "d.")."""
    if transfer.load_optimizer:
        raise UserError("transfer.load_optimizer=true needs networks shaped as the source's, and the "
                        "target's new categories add generator outputs and discriminator inputs: leave "
                        "load_optimizer off")
    starts = starting_points(source, target)
    shared_g = _load_grown(generator, generator_state, blocks(generator)[-1][0], starts, source.width, _output_axis)
    shared_d = _load_grown(discriminator, discriminator_state, blocks(discriminator)[0][0], starts, source.width,
                           _input_axis)
    return {**{f"g.{name}": mask for name, mask in shared_g.items()},
            **{f"d.{name}": mask for name, mask in shared_d.items()}}


def _output_axis(weight: torch.Tensor) -> int:
    return 0  # the output layer's weight and bias have one row per generated output


def _input_axis(weight: torch.Tensor) -> int | None:
    return 1 if weight.dim() == 2 else None  # one weight column per input; the bias is per hidden unit


def _load_grown(network: nn.Module, source_state: dict, layer: nn.Module, starts: list[list[int]],
                source_width: int, data_axis) -> dict[str, torch.Tensor]:
    """`source_state` with `layer`'s weights grown along their data axis, loaded into `network`."""
    prefix = next(name for name, module in network.named_modules() if module is layer) + "."
    own, state, shared = network.state_dict(), dict(source_state), {}
    for name, weight in layer.named_parameters():
        axis = data_axis(weight)
        if axis is None:
            continue
        key = prefix + name
        # Inputs past the data's columns (a concat discriminator's one-hot label) keep their places.
        extra = weight.shape[axis] - len(starts)
        rows = starts + [[source_width + index] for index in range(extra)]
        state[key] = _grown(source_state[key], axis, rows)
        kept = torch.tensor([len(row) == 1 for row in rows], dtype=weight.dtype)
        shared[key] = kept.reshape([-1 if dim == axis else 1 for dim in range(weight.dim())]).expand_as(weight).clone()
    for key, value in own.items():  # spectral norm's power-iteration vectors of the grown layer start afresh
        if key.endswith(("._u", "._v")) and state[key].shape != value.shape:
            state[key] = value
    network.load_state_dict(state)
    return shared


def _grown(source: torch.Tensor, axis: int, rows: list[list[int]]) -> torch.Tensor:
    """Slice i along `axis` is the mean of the source's slices rows[i] (one slice: a copy)."""
    slices = [source.index_select(axis, torch.tensor(indices, device=source.device)).mean(axis) for indices in rows]
    return torch.stack(slices, dim=axis)
