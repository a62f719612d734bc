"""Run the benchmark suite and write benchmarks/results.md:

    python benchmarks/run.py                      # everything, at full size (about 20 minutes on 2 busy cores)
    python benchmarks/run.py --parts overhead,transfer
    python benchmarks/run.py --quick --out /tmp/results.md   # tiny sizes: checks that the suite runs

Parts: overhead (ganxfer's loop against a hand-written one), peers (time to the best of CTGAN's,
TVAE's and SDV GaussianCopula's quality, the peers in a venv of their own: against_peers.py),
transfer (fine-tuning against scratch), scale (a large CSV, via data_scale.py), metrics (the
evaluation suite, via metrics.py) and fewshot (the few-shot study against the target's own run,
via fewshot_study.py, which keeps its runs in outputs/fewshot). Each part is a section of the
results file with the date and machine load it was measured at; sections of parts not run this
time are kept from the existing file."""

import argparse
import contextlib
import datetime
import io
import os
import platform
import re
import sys
import tempfile
from pathlib import Path

import rich
import rich.console
import torch

sys.path.insert(0, str(Path(__file__).parent))  # the sibling benchmark scripts

HERE = Path(__file__).parent
TITLES = {
    "overhead": "Training-loop overhead",
    "peers": "Time to the best peer's quality",
    "transfer": "Transfer: steps to scratch's quality",
    "scale": "Scale: a large CSV",
    "metrics": "Evaluation suite",
    "fewshot": "Few rows: the default finetune against the target's own run",
}


def overhead(quick: bool) -> str:
    import overhead as bench

    return bench.main(["--steps", "8", "--repeats", "1"] if quick else [])


def peers(quick: bool) -> str:
    import against_peers

    return against_peers.main(["--epochs", "1", "--check-every", "20", "--steps", "40", "--default", "30", "--repeats", "1",
                               "--tables", "wine_mixed"] if quick else [])


def transfer(quick: bool) -> str:
    import transfer_speed

    return transfer_speed.main(["--source-steps", "20", "--steps", "20", "--seeds", "1"] if quick else [])


def scale(quick: bool) -> str:
    import data_scale

    return _printed(data_scale.main, ["--rows", "2000", "--steps", "20", "--sample-rows", "1000", "--threads", "1"]
                    if quick else ["--threads", "1"])


def metrics(quick: bool) -> str:
    import metrics as bench

    return _printed(bench.main, ["--rows", "300", "--threads", "1"] if quick else ["--threads", "1"])


def fewshot(quick: bool) -> str:
    import fewshot_study

    if quick:
        with tempfile.TemporaryDirectory() as folder:
            return fewshot_study.main(["--quick", "--out", folder])
    return fewshot_study.main(["--out", "outputs/fewshot/study"])


def _printed(main, argv: list[str]) -> str:
    """A script that prints its figures: its output, verbatim, as a code block (without the
    schema tables and progress bars of the ganxfer runs it makes)."""
    from ganxfer.runtime import console

    output = io.StringIO()
    with contextlib.redirect_stdout(output), _quiet(console), _quiet(rich.get_console()):
        main(argv)
    sys.stdout.write(output.getvalue())
    return f"`{' '.join(argv)}`\n\n```\n{output.getvalue().strip()}\n```"


@contextlib.contextmanager
def _quiet(console: rich.console.Console):
    console.quiet = True
    try:
        yield
    finally:
        console.quiet = False


PARTS = {"overhead": overhead, "peers": peers, "transfer": transfer, "scale": scale, "metrics": metrics,
         "fewshot": fewshot}


def load() -> str:
    return "load average " + " ".join(f"{value:.2f}" for value in os.getloadavg()) + " (1, 5, 15 min)"


def machine() -> str:
    device = "cuda: " + torch.cuda.get_device_name() if torch.cuda.is_available() else "cpu"
    return (f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
            f"torch {torch.__version__}, {torch.get_num_threads()} torch threads, device {device}")


def now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def section(part: str, body: str, started: str, load_before: str) -> str:
    return (f"## {TITLES[part]}\n\nMeasured {started} to {now()}; {load_before} before, {load()} after.\n\n"
            f"{body.strip()}\n")


def previous_sections(path: Path) -> dict[str, str]:
    """The sections of an earlier results file, by part."""
    if not path.exists():
        return {}
    by_title = {title: part for part, title in TITLES.items()}
    sections = {}
    for chunk in re.split(r"^(?=## )", path.read_text(), flags=re.MULTILINE):
        title = chunk.splitlines()[0][3:].strip() if chunk.startswith("## ") else None
        if title in by_title:
            sections[by_title[title]] = chunk.rstrip() + "\n"
    return sections


def header() -> str:
    return ("# Benchmark results\n\n"
            f"Written by `python benchmarks/run.py` on {now()}.\n\n"
            f"Machine: {machine()}.\n\n"
            "Timings on a shared machine are noisy: the two sides of each ratio are measured in the same "
            "run (alternately where a side is short), and each section gives the load average around it.\n")


def main(argv=None) -> Path:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parts", default=",".join(PARTS), help=f"comma-separated: {', '.join(PARTS)}")
    parser.add_argument("--quick", action="store_true", help="tiny sizes: checks that the suite runs, not its speed")
    parser.add_argument("--out", type=Path, default=HERE / "results.md")
    args = parser.parse_args(argv)
    parts = args.parts.split(",")
    unknown = [part for part in parts if part not in PARTS]
    if unknown:
        parser.error(f"unknown part(s) {', '.join(unknown)}; choose from {', '.join(PARTS)}")

    print(f"{now()}\n{machine()}\n{load()}", flush=True)
    for part in parts:
        started, load_before = now(), load()
        print(f"\n== {TITLES[part]} ==", flush=True)
        body = PARTS[part](args.quick)
        sections = {**previous_sections(args.out), part: section(part, body, started, load_before)}
        args.out.write_text("\n".join([header(), *(sections[p] for p in PARTS if p in sections)]))
    print(f"\nwrote {args.out}")
    return args.out


if __name__ == "__main__":
    main()
