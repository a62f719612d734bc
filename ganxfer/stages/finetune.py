"""ganxfer finetune ckpt=PATH|latest: carry a pretrained GAN over to the target data."""

from ganxfer.training.run import train


def run(cfg) -> float:
    """Returns the final value of trainer.monitor, the number a sweeper minimises."""
    return train(cfg, "finetune")
