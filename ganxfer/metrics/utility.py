"""Machine-learning utility: does a classifier trained on synthetic rows work on real rows?"""

import numpy as np
import pandas as pd


def utility(train: pd.DataFrame, test: pd.DataFrame, fake: pd.DataFrame, label: str, seed: int = 0) -> dict:
    """Train-on-synthetic-test-on-real against train-on-real-test-on-real (Esteban, Hyland & Rätsch
    2017; Jordon et al. 2019): the same gradient-boosting classifier predicts `label` from the
    other columns of `fake`, trained once on the real training rows and once on the synthetic rows,
    and is scored on the same real test rows:

        TRTR = accuracy on test of f fitted to train      TSTR = accuracy on test of f fitted to fake

    Ideal: TSTR as high as TRTR."""
    # Imported on use: scikit-learn takes a second to import, a training run needs none of it.
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.metrics import accuracy_score

    features = [name for name in fake.columns if name != label]
    # One encoding for all three: text and booleans one-hot (gaps a column of their own), numeric
    # gaps NaN, which gradient boosting routes by itself.
    encoded = pd.get_dummies(pd.concat([train[features], test[features], fake[features]], keys=range(3)),
                             dummy_na=True).astype(np.float64)
    train_x, test_x, fake_x = (encoded.xs(part) for part in range(3))

    def accuracy_when_trained_on(rows: pd.DataFrame, labels: pd.Series) -> float:
        if labels.nunique() < 2:  # one class only: the classifier can only ever answer it
            return float((test[label] == labels.iloc[0]).mean())
        classifier = HistGradientBoostingClassifier(random_state=seed).fit(rows, labels)
        return float(accuracy_score(test[label], classifier.predict(test_x)))

    return {"tstr_accuracy": accuracy_when_trained_on(fake_x, fake[label]),
            "trtr_accuracy": accuracy_when_trained_on(train_x, train[label])}
