"""How the values of one numeric column are mapped into the generator's tanh range [-1, 1] and
back (`data.scaling`). Each scaler is fitted on the training values and kept as plain data, so
it can travel inside a checkpoint; `blocks` says which generator outputs encode it."""

import warnings

import numpy as np

from ganxfer.errors import UserError

TANH = [("tanh", 1)]


class Scaler:
    """What every scaler shares: its plain-data form is its name and its fitted attributes."""

    name: str
    blocks: list[tuple[str, int]]

    @property
    def outputs(self) -> list[tuple]:
        """What each generator output means, one label per output (see Schema.outputs)."""
        return [(self.name,)]

    def to_dict(self) -> dict:
        fitted = {key: value.tolist() if isinstance(value, np.ndarray) else value
                  for key, value in vars(self).items() if key != "blocks"}
        return {"name": self.name, **fitted}


class MinMax(Scaler):
    """The observed minimum and maximum map to -1 and 1."""

    name = "minmax"
    blocks = TANH

    def __init__(self, low: float, high: float):
        self.low, self.high = low, high

    @classmethod
    def fit(cls, values: np.ndarray) -> "MinMax":
        return cls(float(values.min()), float(values.max()))

    def transform(self, values: np.ndarray) -> np.ndarray:
        span = self.high - self.low
        scaled = np.zeros_like(values) if span == 0 else 2 * (values - self.low) / span - 1
        return scaled[:, None]

    def inverse(self, encoded: np.ndarray) -> np.ndarray:
        return (encoded[:, 0] + 1) / 2 * (self.high - self.low) + self.low


class Standard(Scaler):
    """(x - mean) / (4 std): four standard deviations either side of the mean fill the tanh
    range (as in CTGAN); the rare values beyond are clipped."""

    name = "standard"
    blocks = TANH
    SPREAD = 4.0

    def __init__(self, mean: float, std: float):
        self.mean, self.std = mean, std

    @classmethod
    def fit(cls, values: np.ndarray) -> "Standard":
        return cls(float(values.mean()), float(values.std()) or 1.0)

    def transform(self, values: np.ndarray) -> np.ndarray:
        return np.clip((values - self.mean) / (self.SPREAD * self.std), -1, 1)[:, None]

    def inverse(self, encoded: np.ndarray) -> np.ndarray:
        return encoded[:, 0] * self.SPREAD * self.std + self.mean


class Quantile(Scaler):
    """Quantile-to-normal: scikit-learn's QuantileTransformer (output_distribution="normal")
    learns the column's quantiles; the normal scores are divided by their largest possible
    value so they fit the tanh range. Only the quantiles and their reference ranks are kept,
    and both directions are recomputed with numpy.interp."""

    name = "quantile"
    blocks = TANH
    RANK_BOUND = 1e-7  # QuantileTransformer clips ranks to [1e-7, 1 - 1e-7] before the normal quantile
    EDGE = 5.1993375821928165  # -scipy.special.ndtri(RANK_BOUND): the largest normal score it can give

    def __init__(self, quantiles: list[float], references: list[float]):
        self.quantiles, self.references = np.asarray(quantiles), np.asarray(references)

    @classmethod
    def fit(cls, values: np.ndarray) -> "Quantile":
        # Imported on use: scikit-learn takes a second to import, and only fitting needs it.
        from sklearn.preprocessing import QuantileTransformer

        fitted = QuantileTransformer(n_quantiles=min(1000, len(values)), output_distribution="normal",
                                     random_state=0).fit(values[:, None])
        return cls(fitted.quantiles_[:, 0].tolist(), fitted.references_.tolist())

    def transform(self, values: np.ndarray) -> np.ndarray:
        from scipy.special import ndtri  # imported on use: the other scalings never need scipy.special

        q, r = self.quantiles, self.references
        # Averaging the interpolation from both ends, as QuantileTransformer does, puts a value
        # repeated over several quantiles (an integer column) in the middle of its ranks.
        ranks = 0.5 * (np.interp(values, q, r) - np.interp(-values, -q[::-1], -r[::-1]))
        scores = ndtri(np.clip(ranks, self.RANK_BOUND, 1 - self.RANK_BOUND))
        return (scores / self.EDGE)[:, None]

    def inverse(self, encoded: np.ndarray) -> np.ndarray:
        from scipy.special import ndtr  # imported on use, as in transform

        ranks = ndtr(np.clip(encoded[:, 0], -1, 1) * self.EDGE)
        return np.interp(ranks, self.references, self.quantiles)


class ModeSpecific(Scaler):
    """CTGAN's mode-specific normalisation (Xu et al. 2019): a Bayesian Gaussian mixture finds
    the column's modes; a value is encoded as the one-hot of its most likely mode (a softmax
    block) and its distance from that mode's mean in units of 4 standard deviations (tanh)."""

    name = "mode_specific"
    SPREAD = 4.0
    MAX_MODES, FIT_ROWS, MIN_WEIGHT = 10, 10_000, 0.005

    def __init__(self, means: list[float], stds: list[float], weights: list[float]):
        self.means, self.stds, self.weights = np.asarray(means), np.asarray(stds), np.asarray(weights)
        self.blocks = [("tanh", 1), ("softmax", len(means))]

    @property
    def outputs(self) -> list[tuple]:
        return [(self.name, "offset"), *[(self.name, "mode", index) for index in range(len(self.means))]]

    @classmethod
    def fit(cls, values: np.ndarray) -> "ModeSpecific":
        # Imported on use: scikit-learn takes a second to import, and only fitting needs it.
        from sklearn.exceptions import ConvergenceWarning
        from sklearn.mixture import BayesianGaussianMixture

        if len(values) > cls.FIT_ROWS:  # the mixture's shape is clear long before a million rows
            values = np.random.default_rng(0).choice(values, cls.FIT_ROWS, replace=False)
        modes = min(cls.MAX_MODES, len(np.unique(values)))
        mixture = BayesianGaussianMixture(
            n_components=modes, weight_concentration_prior_type="dirichlet_process",
            weight_concentration_prior=1e-3, max_iter=100, random_state=0)
        with warnings.catch_warnings():  # unconverged after max_iter is usual and harmless here (CTGAN too)
            warnings.simplefilter("ignore", ConvergenceWarning)
            mixture.fit(values[:, None])
        used = mixture.weights_ > cls.MIN_WEIGHT  # the prior switches superfluous modes off
        stds = np.sqrt(mixture.covariances_.reshape(-1))[used]
        return cls(mixture.means_[used, 0].tolist(), np.maximum(stds, 1e-6).tolist(),
                   mixture.weights_[used].tolist())

    def transform(self, values: np.ndarray) -> np.ndarray:
        column = values[:, None]
        log_density = np.log(self.weights) - np.log(self.stds) - 0.5 * ((column - self.means) / self.stds) ** 2
        mode = log_density.argmax(1)
        encoded = np.zeros((len(values), 1 + len(self.means)))
        encoded[:, 0] = np.clip((values - self.means[mode]) / (self.SPREAD * self.stds[mode]), -1, 1)
        encoded[np.arange(len(values)), 1 + mode] = 1
        return encoded

    def inverse(self, encoded: np.ndarray) -> np.ndarray:
        mode = encoded[:, 1:].argmax(1)
        return encoded[:, 0] * self.SPREAD * self.stds[mode] + self.means[mode]


SCALERS = {scaler.name: scaler for scaler in (MinMax, Standard, Quantile, ModeSpecific)}


def fit_scaler(name: str, values: np.ndarray):
    if name not in SCALERS:
        raise UserError(f"data.scaling={name!r} is not a scaling; choose one of: {', '.join(SCALERS)}")
    return SCALERS[name].fit(values)


def scaler_from_dict(state: dict):
    fields = {key: value for key, value in state.items() if key != "name"}
    return SCALERS[state["name"]](**fields)
