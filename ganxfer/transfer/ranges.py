"""data.range=widen: the source's networks carried over to a schema whose min-max ranges were
widened to cover the target (data.Schema.covering).

Min-max scaling is affine, so a widened column's scaled value is an affine map of the source's:
new = a·old + b, with a = (h0 − l0) / (h1 − l1) and b = (h0 + l0 − h1 − l1) / (h1 − l1) for the
source's range [l0, h0] widened to [l1, h1]. The networks are changed where that column enters
and leaves them:

- D's first linear layer reads new = a·old + b in place of old: its weight column for that input
  is divided by a and its bias less that column times b / a, so D gives every raw row exactly the
  logit it gave before (spectral normalisation, which divides by the layer's largest singular
  value, makes it approximate).
- G's last linear layer feeds tanh, which cannot be mapped exactly: its row for that output is
  scaled by α and its bias by α and shifted by β so that tanh(α·p + β) matches a·tanh(p) + b in
  value and slope at the pre-activation p of the source's median value. Values near the median
  keep their place; those near the ends of the source's range drift outwards, toward the ends of
  the wider range (docs/transfer.md measures how far).
"""

import math

import numpy as np
from torch import nn

from ganxfer.data import Schema
from ganxfer.data.scalers import MinMax
from ganxfer.transfer.layers import blocks

# The median's scaled value is kept this far inside (−1, 1), where atanh and its slope are finite.
LARGEST_MEDIAN = 0.95


def affine_maps(source: Schema, target: Schema) -> dict[int, tuple[float, float]]:
    """For each min-max output whose range differs between `source` and `target`: its index among
    the source's outputs -> (a, b), the map from the source's scaled value to the target's."""
    position = {label: index for index, label in enumerate(source.outputs)}
    target_columns = {column.name: column for column in target.columns}
    maps = {}
    for column in source.columns:
        widened = target_columns.get(column.name)
        scalers = (getattr(column, "scaler", None), getattr(widened, "scaler", None))
        if not all(isinstance(scaler, MinMax) for scaler in scalers):
            continue
        old, new = scalers
        # Only a range that holds the source's is a widening; one that data.refit fitted on the
        # target's rows is a new scaling, which the source's weights are not mapped to.
        if new.low <= old.low and new.high >= old.high and (old.low, old.high) != (new.low, new.high):
            span = new.high - new.low
            maps[position[(column.name, "minmax")]] = ((old.high - old.low) / span,
                                                       (old.high + old.low - new.high - new.low) / span)
    return maps


def output_map(a: float, b: float, median: float) -> tuple[float, float]:
    """(α, β) such that tanh(α·p + β) has the value and slope of a·tanh(p) + b at the p where
    tanh(p) is `median`, the source's median value as scaled."""
    t = min(max(median, -LARGEST_MEDIAN), LARGEST_MEDIAN)
    p, mapped = math.atanh(t), a * t + b
    alpha = a * (1 - t * t) / (1 - mapped * mapped)
    return alpha, math.atanh(mapped) - alpha * p


def carry_over(generator: nn.Module, discriminator: nn.Module, generator_state: dict, discriminator_state: dict,
               source: Schema, target: Schema) -> tuple[dict, dict]:
    """The source's G and D weights (as their state dicts, in the source's layout) mapped to the
    widened ranges of `target`: copies, the source's own left as they were."""
    maps = affine_maps(source, target)
    if not maps:
        return generator_state, discriminator_state
    medians = _scaled_medians(source)
    generator_state, discriminator_state = dict(generator_state), dict(discriminator_state)
    weight, bias = _keys(generator, blocks(generator)[-1][0])
    generator_state[weight], generator_state[bias] = generator_state[weight].clone(), generator_state[bias].clone()
    for output, (a, b) in maps.items():
        alpha, beta = output_map(a, b, medians[output])
        generator_state[weight][output] *= alpha
        generator_state[bias][output] = alpha * generator_state[bias][output] + beta
    weight, bias = _keys(discriminator, blocks(discriminator)[0][0])
    columns, bias_values = discriminator_state[weight].clone(), discriminator_state[bias].clone()
    for output, (a, b) in maps.items():
        bias_values -= columns[:, output] * (b / a)
        columns[:, output] /= a
    discriminator_state[weight], discriminator_state[bias] = columns, bias_values
    return generator_state, discriminator_state


def _scaled_medians(source: Schema) -> dict[int, float]:
    """Each min-max output's index -> its column's median (the training median) as scaled."""
    position = {label: index for index, label in enumerate(source.outputs)}
    return {position[(column.name, "minmax")]: float(column.scaler.transform(np.array([column.fill]))[0, 0])
            for column in source.columns if isinstance(getattr(column, "scaler", None), MinMax)}


def _keys(network: nn.Module, layer: nn.Module) -> tuple[str, str]:
    """The state-dict keys of `layer`'s weight and bias (a spectrally normalised weight's is its original)."""
    prefix = next(name for name, module in network.named_modules() if module is layer) + "."
    names = dict(layer.named_parameters())
    weight = "parametrizations.weight.original" if "parametrizations.weight.original" in names else "weight"
    return prefix + weight, prefix + "bias"
