"""Classifier two-sample test: can a classifier tell real rows from synthetic ones?"""

import numpy as np


def c2st(real: np.ndarray, fake: np.ndarray, seed: int = 0, test_size: float = 0.3) -> dict:
    """Lopez-Paz & Oquab (2017), "Revisiting Classifier Two-Sample Tests": label real rows 1 and
    synthetic rows 0, fit a classifier on one part, and score it on the held-out rest:

        accuracy = 1/T Σ_t 1[ŷ_t = y_t]        AUC = P(score(real row) > score(synthetic row))

    0.5 is ideal (indistinguishable), 1 fully separable. Two classifiers: gradient boosting
    (`c2st_accuracy`, `c2st_auc`; finds any difference in the marginals and interactions) and
    logistic regression (`c2st_logistic_*`; sees only linear differences, mostly the means).
    Give equally many rows of each, so that 0.5 is chance level."""
    # Imported on use: scikit-learn takes a second to import, a training run needs none of it.
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import accuracy_score, roc_auc_score
    from sklearn.model_selection import GroupShuffleSplit

    rows = np.concatenate([real, fake])
    is_real = np.r_[np.ones(len(real)), np.zeros(len(fake))]
    # Equal rows go to the same side of the split: a classifier that recalls a row it was trained on
    # with the other label would otherwise score below chance (integer data repeat rows often).
    same_row = np.unique(rows, axis=0, return_inverse=True)[1].ravel()
    splitter = GroupShuffleSplit(n_splits=1, test_size=test_size, random_state=seed)
    train, test = next(splitter.split(rows, is_real, groups=same_row))
    classifiers = {"c2st": HistGradientBoostingClassifier(random_state=seed),
                   "c2st_logistic": LogisticRegression(max_iter=1000)}
    results = {}
    for name, classifier in classifiers.items():
        classifier.fit(rows[train], is_real[train])
        results[f"{name}_accuracy"] = float(accuracy_score(is_real[test], classifier.predict(rows[test])))
        results[f"{name}_auc"] = float(roc_auc_score(is_real[test], classifier.predict_proba(rows[test])[:, 1]))
    return results
