"""A learned feature space for Fréchet distance on data that have no pretrained network: the hidden
layers of a small classifier trained to predict the label from real rows (FID uses Inception's
pool layer for the same purpose). Trained once per set of rows, seeded, kept as plain arrays."""

import hashlib
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits

from ganxfer.files import atomic_write

HIDDEN = (64, 64)  # the last hidden layer's width is the feature dimension
EPOCHS = 50


@dataclass
class FeatureNet:
    layers: list[tuple[np.ndarray, np.ndarray]]  # (weights, bias) of each hidden layer

    def __call__(self, rows: np.ndarray) -> np.ndarray:
        """Rows -> the activations of the last hidden layer (the penultimate features)."""
        for weights, bias in self.layers:
            rows = np.maximum(rows @ weights + bias, 0.0)  # ReLU, MLPClassifier's default activation
        return rows

    @classmethod
    def train(cls, rows: np.ndarray, labels: np.ndarray, seed: int = 0) -> "FeatureNet":
        # Imported on use: scikit-learn takes a second to import, a training run needs none of it.
        from sklearn.exceptions import ConvergenceWarning
        from sklearn.neural_network import MLPClassifier

        classifier = MLPClassifier(HIDDEN, max_iter=EPOCHS, random_state=seed)
        # Mini-batches of 200 rows are too small for BLAS threads to pay off: with two, training
        # is several times slower, and tens of times on a busy machine.
        with warnings.catch_warnings(), threadpool_limits(1, user_api="blas"):
            # A fixed budget of epochs: the features must be fixed and informative, not converged.
            warnings.simplefilter("ignore", ConvergenceWarning)
            classifier.fit(rows, labels)
        # The output layer is dropped: it only maps the features to class scores.
        return cls(list(zip(classifier.coefs_[:-1], classifier.intercepts_[:-1])))

    def save(self, path: Path) -> None:
        arrays = {f"{kind}{i}": array for i, layer in enumerate(self.layers)
                  for kind, array in zip(("weights", "bias"), layer)}
        atomic_write(path, lambda file: np.savez(file, **arrays))

    @classmethod
    def load(cls, path: Path) -> "FeatureNet":
        with np.load(path, allow_pickle=False) as arrays:  # plain arrays: loading runs no code
            return cls([(arrays[f"weights{i}"], arrays[f"bias{i}"]) for i in range(len(arrays.files) // 2)])


def cached_feature_net(rows: np.ndarray, labels, cache_dir: Path | None, seed: int = 0) -> FeatureNet:
    """FeatureNet.train, stored in cache_dir under a hash of its rows, labels and seed, so that
    the same data are never trained on twice and changed data never reuse a stale network."""
    if cache_dir is None:
        return FeatureNet.train(rows, labels, seed)
    digest = hashlib.sha256()
    for part in (np.ascontiguousarray(rows, np.float64), np.asarray(labels).astype(str), np.array([seed, *HIDDEN, EPOCHS])):
        digest.update(part.tobytes())
    path = Path(cache_dir) / f"feature_net_{digest.hexdigest()[:16]}.npz"
    if path.exists():
        return FeatureNet.load(path)
    net = FeatureNet.train(rows, labels, seed)
    net.save(path)
    return net


RANDOM_WIDTHS = (32, 64, 128)  # feature maps of each layer; the last is the feature dimension


def random_image_features(rows: np.ndarray, shape: tuple[int, int, int], seed: int = 0) -> np.ndarray:
    """A label-free feature space for images: an untrained convolutional network whose weights are
    drawn from a seeded generator (He initialisation), [Conv2d(3x3, stride 2) -> ReLU] per width
    in RANDOM_WIDTHS, then each map averaged over the image. Such random embeddings rank
    generative models much as trained ones do (Naeem et al. 2020, "Reliable Fidelity and Diversity
    Metrics for Generative Models"), and need no download. Rows: flat C*H*W pixels in [-1, 1]."""
    import torch  # here only: the other metrics need nothing but numpy and scikit-learn

    generator = torch.Generator().manual_seed(seed)
    features = torch.as_tensor(np.ascontiguousarray(rows), dtype=torch.float32).reshape(-1, *shape)
    maps = shape[0]
    with torch.no_grad():
        for width in RANDOM_WIDTHS:
            weight = torch.randn(width, maps, 3, 3, generator=generator) * np.sqrt(2.0 / (maps * 9))
            features = torch.relu(torch.nn.functional.conv2d(features, weight, stride=2, padding=1))
            maps = width
        return features.mean(dim=(2, 3)).numpy().astype(np.float64)
