"""Fits one peer on a CSV, saves it, then writes synthetic rows. Runs in the peers' own venv
(benchmarks/against_peers.py makes it), as a process of its own:

    python fit.py {ctgan,tvae,gaussian_copula} TRAIN.csv METADATA.json OUT_FOLDER EPOCHS

Prints one JSON line, {"trained_at": UNIX_TIME}, once the fitted model is saved: the caller
times the process from its start to that moment, as it times `ganxfer pretrain` from its start
to its exit (a checkpoint on disk). Sampling comes after, untimed, as `ganxfer sample` does."""

import json
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch


def fitted(peer: str, train: pd.DataFrame, metadata: dict, epochs: int):
    """The peer fitted on `train`, and a function drawing n synthetic rows from it."""
    discrete = [name for name, column in metadata["columns"].items() if column["sdtype"] == "categorical"]
    if peer == "gaussian_copula":
        from sdv.metadata import Metadata
        from sdv.single_table import GaussianCopulaSynthesizer

        # SDV 2 speaks of a single table as a one-table dataset: {name: rows}
        model = GaussianCopulaSynthesizer(Metadata.load_from_dict({"tables": {"table": metadata}}))
        model.fit({"table": train})
        return model, lambda n: model.sample(n)["table"]
    from ctgan import CTGAN, TVAE

    model = {"ctgan": CTGAN, "tvae": TVAE}[peer](epochs=epochs)
    model.fit(train, discrete_columns=discrete)
    return model, model.sample


def main(peer: str, train_csv: str, metadata_json: str, out: str, epochs: str) -> None:
    torch.manual_seed(0)
    np.random.seed(0)
    train = pd.read_csv(train_csv)
    model, sample = fitted(peer, train, json.loads(Path(metadata_json).read_text()), int(epochs))
    model.save(Path(out) / "model.pkl")
    print(json.dumps({"trained_at": time.time()}), flush=True)
    sample(len(train)).to_csv(Path(out) / "samples.csv", index=False)


if __name__ == "__main__":
    main(*sys.argv[1:])
