"""ganxfer pretrain: train a GAN from random weights on the source data."""

from ganxfer.training.run import train


def run(cfg) -> float:
    """Returns the final value of trainer.monitor, the number a sweeper minimises."""
    return train(cfg, "pretrain")
