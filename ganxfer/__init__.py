"""ganxfer: pretrain a GAN on a source dataset, transfer it to a small target dataset,
measure the result and write synthetic data."""

__version__ = "0.1.0"
