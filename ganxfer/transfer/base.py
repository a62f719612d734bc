"""The interface every transfer strategy implements, and the two strategies that are nothing but
its defaults: full fine-tuning and the scratch baseline."""

import torch
from torch import nn

from ganxfer.settings import Transfer


class Strategy:
    """How a finetune run starts from the source checkpoint and what it trains. Each hook's
    default changes nothing, so that a strategy overrides only what it is about."""

    loads_source = True  # start from the source's weights (False: the scratch baseline)
    needs_whole_source = False  # True: every weight must have a source counterpart (no transfer.remap)
    changes_trainable_weights = False  # True: before_step freezes or thaws weights mid-run

    def __init__(self, settings: Transfer):
        self.settings = settings
        # With transfer.remap=true, masks of the remapped layers' weights: 1 where the weight was
        # carried over from the source, 0 where it is new (keys "g."/"d." + parameter name).
        self.shared: dict[str, torch.Tensor] = {}

    def adapt(self, generator: nn.Module, discriminator: nn.Module) -> tuple[nn.Module, nn.Module]:
        """Structural changes (extra modules, reparametrised weights). Made once the source weights
        are loaded, and again whenever a finetuned checkpoint is rebuilt to be loaded."""
        return generator, discriminator

    def freeze(self, generator: nn.Module, discriminator: nn.Module) -> None:
        """Switch off requires_grad of what must not train; optimisers are built afterwards."""

    def regularise(self, objective, generator: nn.Module, discriminator: nn.Module, batch_size: int) -> None:
        """Add penalties to the objective (anchored at the weights the run starts from)."""

    def before_step(self, step: int) -> None:
        """Called before every training step, for strategies that change course mid-run."""

    def state_dict(self) -> dict[str, torch.Tensor]:
        """What a resumed run needs to continue exactly (anchors, Fisher information)."""
        return {}

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        pass


class Full(Strategy):
    """Full fine-tuning (Wang et al. 2018, "Transferring GANs"): start from the source G and D and
    train every weight on the target data."""


class Scratch(Strategy):
    """The baseline: the source's architecture with fresh random weights, trained on the same data."""

    loads_source = False
