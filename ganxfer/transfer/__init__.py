"""Transfer strategies: how a finetune run starts from the source checkpoint and what it trains.

Every strategy implements the small interface of base.Strategy (adapt, freeze, regularise,
before_step); `transfer=NAME` picks one. Augmentation (ganxfer/augment.py) combines with any of them.
"""

from ganxfer.errors import UserError
from ganxfer.settings import Transfer
from ganxfer.transfer import categories, ranges, remap
from ganxfer.transfer.base import Full, Scratch, Strategy
from ganxfer.transfer.consistency import CDC, DCL
from ganxfer.transfer.freezing import FreezeD, FreezeG, ScaleShift, reinitialise_head
from ganxfer.transfer.minegan import MineGAN
from ganxfer.transfer.regularise import EWC, L2SP
from ganxfer.transfer.svd import SVD

STRATEGIES: dict[str, type[Strategy]] = {
    "scratch": Scratch, "full": Full, "freeze_d": FreezeD, "freeze_g": FreezeG,
    "scale_shift": ScaleShift, "l2sp": L2SP, "ewc": EWC, "minegan": MineGAN, "svd": SVD,
    "cdc": CDC, "dcl": DCL,
}


def get(settings: Transfer) -> Strategy:
    if settings.name not in STRATEGIES:
        raise UserError(f"unknown transfer strategy {settings.name!r}; available: {', '.join(STRATEGIES)}")
    return STRATEGIES[settings.name](settings)


def changes_structure(name: str) -> bool:
    """True for strategies that add modules or reparametrise weights (their checkpoints need them)."""
    return STRATEGIES[name].adapt is not Strategy.adapt


__all__ = ["STRATEGIES", "Strategy", "changes_structure", "get", "categories", "ranges", "reinitialise_head", "remap"]
