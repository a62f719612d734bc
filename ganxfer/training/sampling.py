"""The generator a trained model samples with, rebuilt from its checkpoint as its run built it:
for the stages that sample or evaluate."""

import torch

from ganxfer import models, transfer
from ganxfer.checkpoint import model_settings, sampler_weights
from ganxfer.data import Schema
from ganxfer.settings import group_from_saved


def sampler(state: dict, device) -> torch.nn.Module:
    """The generator a checkpoint samples with (its EMA copy when it has one), rebuilt with the
    structure its transfer strategy gave it."""
    schema = Schema.from_dict(state["schema"])
    model = group_from_saved("model", model_settings(state))
    generator, discriminator = models.build(model, schema.layout, schema.image_shape, schema.classes)
    if state["stage"] == "finetune":
        strategy = transfer.get(group_from_saved("transfer", state["config"]["transfer"]))
        generator, _ = strategy.adapt(generator, discriminator)
    generator.load_state_dict(sampler_weights(state["networks"]))
    return generator.to(device)
