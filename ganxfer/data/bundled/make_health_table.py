"""Writes health.csv, the bundled table of `data=health` and `data=health_target`, from the RAND
Health Insurance Experiment data that statsmodels distributes (public domain):

    pip download statsmodels --no-deps -d /tmp/sm && cd /tmp/sm && unzip -q statsmodels-*.whl
    python make_health_table.py /tmp/sm/statsmodels/datasets/randhie/src/randhie.csv

The source file holds one row per person and study year; this keeps each person's first year, so
that no person is both trained on and held out, and gives the columns readable names. The site
codes 1-6 are the experiment's six sites in the order of its reports."""

import sys
from pathlib import Path

import pandas as pd

SITES = {1: "Dayton", 2: "Seattle", 3: "Fitchburg", 4: "Franklin County", 5: "Charleston", 6: "Georgetown County"}
COLUMNS = {  # source column -> bundled column
    "site": "site",
    "coins": "coinsurance",
    "female": "female",
    "black": "black",
    "xage": "age",
    "income": "income",
    "educdec": "education_years",
    "num": "family_size",
    "mdvis": "doctor_visits",
    "meddol": "medical_spending",
    "totadm": "hospital_admissions",
    "mhi": "mental_health_index",
    "ghindx": "general_health_index",
    "disea": "chronic_diseases",
    "physlm": "physical_limitation",
}


def health_table(source: Path) -> pd.DataFrame:
    visits = pd.read_csv(source)
    first_years = visits.sort_values(["zper", "year"]).drop_duplicates("zper")
    table = first_years[list(COLUMNS)].rename(columns=COLUMNS)
    table["site"] = table["site"].map(SITES)
    table["coinsurance"] = table["coinsurance"].astype(int).astype(str) + "%"  # the plan, a category
    table["income"] = table["income"].round().astype(int)
    return table.round({"age": 1, "medical_spending": 2, "mental_health_index": 1,
                        "general_health_index": 1, "chronic_diseases": 2, "physical_limitation": 3})


if __name__ == "__main__":
    health_table(Path(sys.argv[1])).to_csv(Path(__file__).with_name("health.csv"), index=False)
