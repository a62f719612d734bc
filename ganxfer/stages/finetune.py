"""ganxfer finetune ckpt=PATH|latest: carry a pretrained GAN over to the target data."""

from ganxfer.stages.training import train


def run(cfg) -> None:
    train(cfg, "finetune")
