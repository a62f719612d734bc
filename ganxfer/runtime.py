"""What every stage shares about where it runs: the console, the run's log file, the run
directory, the device."""

import logging
import sys
from contextlib import contextmanager
from pathlib import Path

import torch
from hydra.core.hydra_config import HydraConfig
from hydra.experimental.callback import Callback
from rich.console import Console, RenderHook

# The run's log file alone (<stage>.log in the run directory, conf/hydra/job_logging/ganxfer.yaml):
# a record of the run that outlives the console, also of a job run in another process or machine.
run_log = logging.getLogger("ganxfer.run_log")

console = Console()

# The log file's copy of the console, in plain text (no colour codes). A file has no width: a
# table takes its natural width, a line of text stays one line.
_plain = Console(width=1000, soft_wrap=True, color_system=None, force_terminal=False, force_jupyter=False,
                 highlight=False)


class _CopyToRunLog(RenderHook):
    """Whatever the console prints goes to the run's log too: one way of printing, two places.
    A rich render hook sees each print's renderables before the console draws them."""

    def process_renderables(self, renderables):
        if not console.quiet:  # a rank other than 0 writes no log of its own
            with _plain.capture() as capture:
                _plain.print(*renderables, end="")
            text = capture.get().rstrip()
            run_log.info("\n" + text if "\n" in text else text)  # a table starts on a line of its own
        return renderables


console.push_render_hook(_CopyToRunLog())

_shown_warnings: set[str] = set()  # the warnings this command has shown on the console


class WarningsOnce(Callback):
    """Each distinct warning shown once on the console per command (conf/config.yaml's
    hydra.callbacks). A sweep's jobs run one after another in this process (Hydra's basic
    launcher), and would each repeat what the data give them to warn of; each job's log file
    still records all of its own warnings."""

    def on_run_start(self, config, **kwargs) -> None:
        _shown_warnings.clear()

    def on_multirun_start(self, config, **kwargs) -> None:
        _shown_warnings.clear()

    def on_job_start(self, config, **kwargs) -> None:
        # Hydra has just made the job's handlers: the console's streams, and its log file.
        for handler in logging.getLogger().handlers:
            if isinstance(handler, logging.StreamHandler) and not isinstance(handler, logging.FileHandler):
                handler.addFilter(_first_showing)


def _first_showing(record: logging.LogRecord) -> bool:
    """A console handler's filter: every message below a warning, and a warning's first showing."""
    if record.levelno < logging.WARNING:
        return True
    message = record.getMessage()
    first = message not in _shown_warnings
    _shown_warnings.add(message)
    return first


class _WithoutHydrasNotesOnOurFailures:
    """A stream that passes on what is written to it but the two notes Hydra 1.3 writes itself
    when a job of a sweep failed by ganxfer's JobFailed: "Error executing job with overrides",
    and a hint to set HYDRA_FULL_ERROR for a traceback that the job's own message has already
    given, or that a user's mistake does not have. ganxfer prints each job's message as it fails,
    and names every failed job at the end. After a failure of any other kind Hydra's hint stays."""

    def __init__(self, stream):
        self.stream = stream
        self.after_job_failed = False

    def write(self, text: str) -> int:
        if text.startswith("Error executing job with overrides: "):
            return len(text)
        if text.lstrip().startswith("Set the environment variable HYDRA_FULL_ERROR") and self.after_job_failed:
            return len(text)
        if text.strip():
            self.after_job_failed = text.startswith("ganxfer ") and JOB_FAILED_MARK in text
        return self.stream.write(text)

    def __getattr__(self, name):
        return getattr(self.stream, name)


JOB_FAILED_MARK = "failed; its message is in "  # in the message of cli.report_failure's JobFailed


@contextmanager
def without_hydras_notes_on_our_failures(in_a_sweep: bool):
    """While a sweep runs, sys.stderr leaves out Hydra's notes on jobs that failed by JobFailed."""
    if not in_a_sweep:
        yield
        return
    stream, sys.stderr = sys.stderr, _WithoutHydrasNotesOnOurFailures(sys.stderr)
    try:
        yield
    finally:
        sys.stderr = stream


def run_dir() -> Path:
    return Path(HydraConfig.get().runtime.output_dir)


def pick_device(name: str) -> torch.device:
    if name != "auto":
        return torch.device(name)
    if torch.cuda.is_available():
        return torch.device("cuda")
    if torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")
