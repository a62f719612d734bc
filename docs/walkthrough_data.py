"""Writes source.csv and target.csv, the two tables of docs/walkthrough.md, into the current folder.

scikit-learn's diabetes study (442 patients, as measured, bundled with scikit-learn: nothing is
downloaded) split by age: patients under 60 are the source, those of 60 and over the target.
The columns are given their medical names; whole-number columns are written as integers, and a
category is derived from the body-mass index, so the tables hold every kind of column.

    python docs/walkthrough_data.py
"""

import pandas as pd
from sklearn.datasets import load_diabetes

NAMES = {"s1": "cholesterol", "s2": "ldl", "s3": "hdl", "s4": "cholesterol_per_hdl",
         "s5": "log_triglycerides", "s6": "glucose", "target": "progression"}
WHOLE_NUMBERS = ["age", "sex", "cholesterol", "glucose", "progression"]
OLDEST_SOURCE_AGE = 59


def diabetes_table() -> pd.DataFrame:
    table = load_diabetes(as_frame=True, scaled=False).frame.rename(columns=NAMES)
    table = table.astype({name: "int64" for name in WHOLE_NUMBERS})
    # The WHO's classes of body-mass index: a text column, as a user's table often has one.
    weight = pd.cut(table["bmi"], [0, 18.5, 25, 30, 100], right=False,
                    labels=["underweight", "normal", "overweight", "obese"])
    return table.assign(weight=weight.astype(str))


if __name__ == "__main__":
    table = diabetes_table()
    older = table["age"] > OLDEST_SOURCE_AGE
    table[~older].to_csv("source.csv", index=False)
    table[older].to_csv("target.csv", index=False)
    print(f"source.csv: {(~older).sum()} patients under {OLDEST_SOURCE_AGE + 1}; "
          f"target.csv: {older.sum()} patients of {OLDEST_SOURCE_AGE + 1} and over")
