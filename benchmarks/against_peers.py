"""Time to the best peer's quality: CTGAN, TVAE and SDV's GaussianCopula against ganxfer on real
tables, each side a whole process, every sample scored by SDMetrics' QualityReport.

    python benchmarks/against_peers.py [--epochs 300] [--check-every 250] [--repeats 3] [--tables ...]
        [--candidate KEY=VALUE ...]
    python benchmarks/against_peers.py --install-only      # make the peers' venv and stop

The peers need pandas < 3, so they never run in ganxfer's environment: they live in a venv of
their own, .venv-peers at the repository's root, made on first use from
benchmarks/peers/requirements.txt and remade when that file changes. Scoring runs there too
(benchmarks/peers/score.py, one process for the whole run).

What is timed, for both sides, is a new process from its start to a trained model on disk:
a peer's process (benchmarks/peers/fit.py) reads the training rows, fits at its defaults but
for --epochs and saves the model; ganxfer's is `python -m ganxfer pretrain data=csv ...` at its
defaults but for trainer.steps, whole, to its exit (its end-of-run evaluation and checkpoint
included). The peers run with one thread (OMP_NUM_THREADS=1), as ganxfer's trainer.threads=auto
runs these small models. Sampling is timed for neither side. Both sides train on the same rows (ganxfer's
training split of the table, 80%) and are scored on them, with as many synthetic rows.

Beside the peers, ganxfer at its defaults: whole processes at the default trainer.steps
(--default: `auto`, or a number), with the steps they ran; at the fixed length --steps (10,000),
unless that is the default run itself; and, with --candidate, at those overrides (a setting that
might become the default, its trainer.steps the default's unless given).

How ganxfer's time to the best peer's score is found: one pretrain run is continued span by
span (--check-every steps; a resumed run continues exactly as one run would) and its samples
scored after each span, up to --steps; the first span whose score reaches the best peer's is the
step count of one more whole process. --check-every 0 skips this search.

TVAE (the fastest torch-based peer) and every timed ganxfer process take turns --repeats times, so
that all see the same load; the medians are compared, and each setting's first process is scored."""

import argparse
import contextlib
import hashlib
import io
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).parent
PEERS_VENV = HERE.parent / ".venv-peers"
REQUIREMENTS = HERE / "peers" / "requirements.txt"
PEERS = {"ctgan": "CTGAN", "tvae": "TVAE", "gaussian_copula": "GaussianCopula"}
# The peers' torch and numpy get one thread, as ganxfer's trainer.threads=auto gives its small
# tabular models: on a few shared cores more threads than cores make every side slower.
ONE_THREAD = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}


# --- the tables: scikit-learn's, shipped with it (no download) ---

def digits_table() -> pd.DataFrame:
    """scikit-learn's digits, all ten classes: 64 pixels (0-16) and the label (ganxfer's bundled
    data=digits, as a CSV)."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    table = pd.DataFrame(digits.data.astype(np.int64), columns=[f"pixel{i}" for i in range(64)])
    return table.assign(label=digits.target)


def wine_table() -> pd.DataFrame:
    """scikit-learn's wine made into a table of mixed types: a text class, decimals, integers,
    a boolean and a text category with gaps."""
    from sklearn.datasets import load_wine

    wine = load_wine(as_frame=True).frame
    rng = np.random.default_rng(0)
    shade = pd.cut(wine["color_intensity"], [0, 3.5, 7, 14], labels=["light", "medium", "dark"]).astype(object)
    return pd.DataFrame({
        "cultivar": "class_" + wine["target"].astype(str),
        "alcohol": wine["alcohol"],
        "malic_acid": wine["malic_acid"],
        "hue": wine["hue"],
        "magnesium": wine["magnesium"].astype(np.int64),
        "proline": wine["proline"].astype(np.int64),
        "strong": wine["alcohol"] > 13,
        "shade": shade.mask(rng.random(len(wine)) < 0.1),  # about one in ten missing
    })


def diabetes_table() -> pd.DataFrame:
    """scikit-learn's diabetes as measured (not scaled): ages and a disease score as integers,
    sex as a category, blood measurements as decimals."""
    from sklearn.datasets import load_diabetes

    table = load_diabetes(as_frame=True, scaled=False).frame
    return table.astype({"age": np.int64, "target": np.int64}).assign(
        sex=table["sex"].map({1.0: "sex_1", 2.0: "sex_2"}))


def breast_cancer_table() -> pd.DataFrame:
    """scikit-learn's breast cancer: 30 measurements and the diagnosis as text."""
    from sklearn.datasets import load_breast_cancer

    cancer = load_breast_cancer(as_frame=True)
    return cancer.frame.assign(target=cancer.frame["target"].map(dict(enumerate(cancer.target_names))))


TABLES = {"wine_mixed": (wine_table, ["cultivar", "shade", "strong"]), "diabetes": (diabetes_table, ["sex"]),
          "breast_cancer": (breast_cancer_table, ["target"]), "digits": (digits_table, ["label"])}


# --- the peers' venv and the processes in it ---

def peer_python(venv: Path = PEERS_VENV) -> Path:
    """The peers' Python, its venv made (or remade, when the requirements changed) on first use."""
    python, stamp = venv / "bin" / "python", venv / "requirements.sha256"
    wanted = hashlib.sha256(REQUIREMENTS.read_bytes()).hexdigest()
    if not (python.exists() and stamp.exists() and stamp.read_text() == wanted):
        print(f"making the peers' venv in {venv} (pandas < 3, ctgan, sdv, sdmetrics)", flush=True)
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", "-r", str(REQUIREMENTS)], check=True)
        stamp.write_text(wanted)  # last: a venv whose install broke off is made again
    return python


class Scorer:
    """SDMetrics' quality report in the peers' venv: one process, asked one file at a time."""

    def __init__(self, python: Path, real_csv: Path, metadata_json: Path):
        self.real_csv, self.metadata_json = real_csv, metadata_json
        self.process = subprocess.Popen([str(python), str(HERE / "peers" / "score.py")], stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, text=True)

    def __call__(self, synthetic_csv: Path) -> float:
        request = {"real": str(self.real_csv), "synthetic": str(synthetic_csv), "metadata": str(self.metadata_json)}
        self.process.stdin.write(json.dumps(request) + "\n")
        self.process.stdin.flush()
        answer = self.process.stdout.readline()
        if not answer:
            raise RuntimeError(f"the scorer stopped (exit {self.process.wait()}) on {synthetic_csv}")
        return json.loads(answer)["score"]

    def close(self) -> None:
        self.process.stdin.close()
        self.process.wait()


def run_peer(python: Path, peer: str, train_csv: Path, metadata_json: Path, epochs: int, out: Path):
    """(seconds from the process's start to its saved model, its samples' CSV)."""
    out.mkdir(parents=True, exist_ok=True)
    started = time.time()
    finished = subprocess.run([str(python), str(HERE / "peers" / "fit.py"), peer, str(train_csv),
                               str(metadata_json), str(out), str(epochs)],
                              check=True, capture_output=True, text=True, env={**os.environ, **ONE_THREAD})
    trained_at = json.loads(finished.stdout.strip().splitlines()[-1])["trained_at"]
    return trained_at - started, out / "samples.csv"


# --- ganxfer's side ---

def composed(overrides: list[str]):
    """The config a `ganxfer pretrain` with these overrides runs with."""
    from hydra import compose, initialize_config_module

    with initialize_config_module("ganxfer.conf", version_base="1.3"):
        return compose("config", overrides=overrides)


def training_rows(csv: Path) -> pd.DataFrame:
    """The rows a ganxfer pretrain on this file trains on (its split, default settings)."""
    from ganxfer import data
    from ganxfer.settings import Settings

    cfg = composed(["data=csv", f"data.path={csv}"])
    settings = Settings.from_config(cfg).data
    return data.split_table(data.load_table(settings), settings).train.reset_index(drop=True)


def ganxfer_samples(ckpt: Path, rows: int, out: Path) -> Path:
    """`rows` synthetic rows from a checkpoint, as `ganxfer sample` writes them."""
    import torch

    from ganxfer import checkpoint, data, models
    from ganxfer.training.sampling import sampler

    state = checkpoint.load(ckpt)
    generator = sampler(state, torch.device("cpu"))
    table = data.Schema.from_dict(state["schema"]).inverse(models.generate(generator, rows, 0, "cpu").numpy())
    table.to_csv(out, index=False)
    return out


def continue_pretrain(csv: Path, steps: int, run: Path, check_every: int) -> Path:
    """Continues (or starts) an in-process pretrain run in `run` up to `steps`; its last.ckpt."""
    from ganxfer import checkpoint, cli

    last = run / "checkpoints" / "last.ckpt"
    if last.exists() and checkpoint.load(last)["step"] >= steps:
        return last
    args = ["pretrain", "data=csv", f"data.path={csv}", "trainer.device=cpu", f"trainer.steps={steps}",
            f"trainer.log_every={check_every}", f"trainer.ckpt_every={check_every}", f"hydra.run.dir={run}"]
    with contextlib.redirect_stdout(io.StringIO()):  # the progress bar and schema table
        cli.main(args + ([f"resume={last}"] if last.exists() else []))
    return last


def timed_pretrain(csv: Path, overrides: list[str], run: Path) -> float:
    """Seconds of one new `python -m ganxfer pretrain` process, start to exit."""
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "ganxfer", "pretrain", "data=csv", f"data.path={csv}",
                    "trainer.device=cpu", *overrides, f"hydra.run.dir={run}"],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - started


@dataclass
class Whole:
    """Whole `ganxfer pretrain` processes of one setting: its overrides, the steps it ran, the median
    of its seconds (taking turns with TVAE) and the score of its first process."""
    setting: str
    steps: int
    seconds: float
    score: float


def scored_run(run: Path, setting: str, seconds: list[float], rows: int, scorer: "Scorer") -> Whole:
    steps = json.loads((run / "metrics.json").read_text())["step"]
    score = scorer(ganxfer_samples(run / "checkpoints" / "last.ckpt", rows, run / "fake.csv"))
    print(f"  ganxfer, {setting}: {steps} steps, {statistics.median(seconds):.1f} s (median of {len(seconds)}), "
          f"score {score:.3f}", flush=True)
    return Whole(setting, steps, statistics.median(seconds), score)


# --- one table ---

@dataclass
class Result:
    table: str
    rows: int
    columns: int
    peers: dict[str, tuple[float, float]]  # peer -> (score, seconds)
    tvae_seconds: float  # median over the repeats
    goal_steps: int | None  # ganxfer's steps to the best peer's score (None: not within --steps)
    goal_seconds: float | None
    goal_score: float | None  # of the timed run
    default: Whole  # ganxfer at its default trainer.steps
    fixed: Whole  # ganxfer at --steps (10,000): the default itself when that is the default
    candidate: Whole | None  # ganxfer with --candidate's overrides, when given
    searched: bool  # whether the steps to the best peer's score were searched (--check-every > 0)

    @property
    def best_peer(self) -> float:
        return max(score for score, _ in self.peers.values())


def steps_to(goal: float, csv: Path, run: Path, folder: Path, rows: int, scorer: Scorer, check_every: int,
             max_steps: int) -> int | None:
    """The first multiple of check_every at which the continued run's samples score `goal`."""
    for steps in range(check_every, max_steps + 1, check_every):
        score = scorer(ganxfer_samples(continue_pretrain(csv, steps, run, check_every), rows, folder / "fake.csv"))
        print(f"  ganxfer: {steps} steps, score {score:.3f} (goal {goal:.3f})", flush=True)
        if score >= goal:
            return steps
    return None


def whole_settings(default_setting: str, most_steps: int, candidate: list[str]) -> dict[str, list[str]]:
    """The whole processes a table runs: name -> their overrides."""
    settings = {"default": [f"trainer.steps={default_setting}"]}
    if default_setting != str(most_steps):
        settings["fixed"] = [f"trainer.steps={most_steps}"]
    if candidate:
        has_steps = any(override.startswith("trainer.steps=") for override in candidate)
        settings["candidate"] = candidate if has_steps else [f"trainer.steps={default_setting}", *candidate]
    return settings


def compare(name: str, python: Path, epochs: int, check_every: int, most_steps: int, default_setting: str,
            repeats: int, candidate: list[str]) -> Result:
    make_table, discrete = TABLES[name]
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        csv, train_csv, metadata_json = folder / "table.csv", folder / "train.csv", folder / "metadata.json"
        make_table().to_csv(csv, index=False)
        train = training_rows(csv)
        train.to_csv(train_csv, index=False)
        metadata_json.write_text(json.dumps({"columns": {
            column: {"sdtype": "categorical" if column in discrete else "numerical"} for column in train.columns}}))
        print(f"{name}: {len(train)} training rows x {train.shape[1]} columns", flush=True)
        scorer = Scorer(python, train_csv, metadata_json)
        try:
            peers = {}
            for peer in PEERS:
                seconds, samples = run_peer(python, peer, train_csv, metadata_json, epochs, folder / peer)
                peers[peer] = (scorer(samples), seconds)
                print(f"  {PEERS[peer]}: {seconds:.1f} s, score {peers[peer][0]:.3f}", flush=True)
            goal = max(score for score, _ in peers.values())
            goal_steps = steps_to(goal, csv, folder / "continued", folder, len(train), scorer, check_every,
                                  most_steps) if check_every > 0 else None
            timed = whole_settings(default_setting, most_steps, candidate)
            if goal_steps is not None:
                timed["goal"] = [f"trainer.steps={goal_steps}"]
            # every timed ganxfer process takes turns with TVAE, so that all see the same load
            tvae_times, seconds = [peers["tvae"][1]], {setting: [] for setting in timed}
            for turn in range(repeats):
                if turn:
                    tvae_times.append(run_peer(python, "tvae", train_csv, metadata_json, epochs,
                                               folder / f"tvae{turn}")[0])
                for setting, overrides in timed.items():
                    seconds[setting].append(timed_pretrain(csv, overrides, folder / f"{setting}{turn}"))
            wholes = {setting: scored_run(folder / f"{setting}0", " ".join(overrides), seconds[setting], len(train),
                                          scorer) for setting, overrides in timed.items()}
        finally:
            scorer.close()
    goal_run = wholes.get("goal")
    return Result(name, len(train), train.shape[1], peers, statistics.median(tvae_times), goal_steps,
                  goal_run and goal_run.seconds, goal_run and goal_run.score, wholes["default"],
                  wholes.get("fixed", wholes["default"]), wholes.get("candidate"), check_every > 0)


def markdown(results: list[Result], epochs: int, repeats: int) -> str:
    with_candidate = any(r.candidate for r in results)
    candidate_header = "ganxfer candidate: score (s), steps | its s / TVAE s | " if with_candidate else ""
    lines = [f"| table | CTGAN score (s) | TVAE score (s) | GaussianCopula score (s) | ganxfer at its default "
             f"trainer.steps: score (s), steps | its s / TVAE s | ganxfer steps to the best peer's score | "
             f"ganxfer s (score) | ganxfer s / TVAE s (goal <= 0.75) | {candidate_header}ganxfer at a fixed length: "
             f"score (s) (goal > best peer) |", "|---|" + "---:|" * (11 if with_candidate else 9)]
    for r in results:
        peers = " | ".join(f"{r.peers[peer][0]:.3f} ({r.peers[peer][1]:.1f})" for peer in PEERS)
        default = f"{r.default.score:.3f} ({r.default.seconds:.1f}), {r.default.steps} ({r.default.setting}) | " \
                  f"{r.default.seconds / r.tvae_seconds:.2f}"
        if not r.searched:
            ours = "not searched | - | -"
        elif r.goal_steps is None:
            ours = f"not reached in {r.fixed.steps} | - | -"
        else:
            ours = (f"{r.goal_steps} | {r.goal_seconds:.1f} ({r.goal_score:.3f}) | "
                    f"{r.goal_seconds / r.tvae_seconds:.2f} (TVAE {r.tvae_seconds:.1f} s)")
        candidate = "" if r.candidate is None else (
            f"{r.candidate.score:.3f} ({r.candidate.seconds:.1f}), {r.candidate.steps} ({r.candidate.setting}) | "
            f"{r.candidate.seconds / r.tvae_seconds:.2f} | ")
        lines.append(f"| {r.table} ({r.rows} x {r.columns}) | {peers} | {default} | {ours} | {candidate}"
                     f"{r.fixed.score:.3f} ({r.fixed.seconds:.1f}) ({r.fixed.steps} steps) |")
    return "\n".join(lines)


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=300, help="CTGAN's and TVAE's epochs (their default: 300)")
    parser.add_argument("--check-every", type=int, default=250,
                        help="ganxfer steps between quality checks (0: no search for the best peer's score)")
    parser.add_argument("--steps", type=int, default=10_000,
                        help="ganxfer's fixed length, and the most steps searched for the best peer's score")
    parser.add_argument("--default", default=None,
                        help="trainer.steps of ganxfer's default run (default: the config's, e.g. auto)")
    parser.add_argument("--repeats", type=int, default=3, help="turns of TVAE and each of ganxfer's timed settings")
    parser.add_argument("--candidate", nargs="+", default=[], metavar="KEY=VALUE",
                        help="overrides of one more ganxfer setting, run and timed beside the default")
    parser.add_argument("--tables", default=",".join(TABLES), help=f"comma-separated: {', '.join(TABLES)}")
    parser.add_argument("--install-only", action="store_true", help="make the peers' venv and stop")
    return parser


def main(argv=None) -> str:
    args = parser().parse_args(argv)
    python = peer_python()
    if args.install_only:
        return str(python)
    default = str(args.default or composed([]).trainer.steps)
    load_before = " ".join(f"{value:.2f}" for value in os.getloadavg())
    results = [compare(name, python, args.epochs, args.check_every, args.steps, default, args.repeats,
                       args.candidate) for name in args.tables.split(",")]
    load = " ".join(f"{value:.2f}" for value in os.getloadavg())
    table = (f"Peers at their defaults but for {args.epochs} epochs (CTGAN, TVAE); seconds from a process's start "
             f"to its trained model on disk; each ganxfer setting's seconds are the median of {args.repeats} "
             f"processes taking turns with TVAE's (whose median is the ratio's). {os.cpu_count()} cores, load "
             f"average {load_before} (1, 5, 15 min) at the start, {load} at the end.\n\n"
             + markdown(results, args.epochs, args.repeats))
    print(table)
    return table


if __name__ == "__main__":
    main()
