"""ganxfer pretrain: train a GAN from random weights on the source data."""

from ganxfer.stages.training import train


def run(cfg) -> None:
    train(cfg, "pretrain")
