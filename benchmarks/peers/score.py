"""SDMetrics' quality report, as a small service in the peers' venv: reads one JSON request a
line on stdin, {"real": CSV, "synthetic": CSV, "metadata": JSON file}, and answers each with
{"score": S} on stdout. One process scores a whole benchmark run, so SDMetrics is imported once."""

import json
import sys
import warnings

import pandas as pd


def score(real_csv: str, synthetic_csv: str, metadata_json: str) -> float:
    from sdmetrics.reports.single_table import QualityReport

    with open(metadata_json) as file:
        metadata = json.load(file)
    real, synthetic = pd.read_csv(real_csv), pd.read_csv(synthetic_csv)
    report = QualityReport()
    report.generate(real, synthetic[real.columns], metadata, verbose=False)
    return float(report.get_score())


def main() -> None:
    warnings.simplefilter("ignore", FutureWarning)  # SDMetrics' notices about its own renames
    # scipy falls back to the asymptotic KS statistic on large samples: the score is unchanged
    warnings.filterwarnings("ignore", message="ks_2samp: Exact calculation unsuccessful")
    for line in sys.stdin:
        request = json.loads(line)
        print(json.dumps({"score": score(request["real"], request["synthetic"], request["metadata"])}), flush=True)


if __name__ == "__main__":
    main()
