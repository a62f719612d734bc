"""What every stage shares about where it runs: the console, the run's log file, the run
directory, the device."""

import logging
import re
import sys
from contextlib import contextmanager
from pathlib import Path

import torch
from hydra.core.hydra_config import HydraConfig
from hydra.experimental.callback import Callback
from rich.console import Console, RenderHook

from ganxfer.errors import JobFailed

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
    """A stream that passes on what is written to it but Hydra 1.3's own notes on a job of a
    sweep that failed by ganxfer's JobFailed: "Error executing job with overrides", and the hint
    to set HYDRA_FULL_ERROR for a traceback that follows the exception's message. ganxfer has
    printed the job's own message as it failed (with the traceback where there is one), and the
    sweep's end names every failed job. Hydra's line is left out for a job whose message this
    process printed; else it is held until the next thing written says whose failure it was (a
    job that a launcher ran in another process). After a failure of any other kind both notes are
    written as Hydra wrote them."""

    HYDRAS_LINE = "Error executing job with overrides: "
    HYDRAS_HINT = "Set the environment variable HYDRA_FULL_ERROR"
    JOBS_MESSAGE = re.compile(r"ganxfer \w+ \(job \d+\)")  # how cli.report_failure's message begins

    def __init__(self, stream):
        self.stream = stream
        self.reported = 0  # failed jobs whose message was printed here, and Hydra's line not yet
        self.held = ""  # Hydra's line, until what follows it is known
        self.after_job_failed = False  # the last thing written was JobFailed's message
        self.filtering = True

    def write(self, text: str) -> int:
        if not self.filtering:
            return self.stream.write(text)
        if not text.strip():  # kept in its place after a held line
            if self.held:
                self.held += text
                return len(text)
            return self.stream.write(text)
        if text.startswith(self.HYDRAS_LINE):
            self.release()
            if self.reported:
                self.reported -= 1
            else:
                self.held = text
            return len(text)
        if self.after_job_failed and text.lstrip().startswith(self.HYDRAS_HINT):
            self.after_job_failed = False
            return len(text)
        # JobFailed's message, or the Optuna sweeper's log line that quotes it.
        self.after_job_failed = JobFailed.SAYS in text
        if self.after_job_failed:
            self.held = ""
        elif self.JOBS_MESSAGE.search(text):
            self.reported += 1
        self.release()
        return self.stream.write(text)

    def release(self) -> None:
        """Write out Hydra's line if it is still held."""
        held, self.held = self.held, ""
        if held:
            self.stream.write(held)

    def __getattr__(self, name):
        return getattr(self.stream, name)


@contextmanager
def without_hydras_notes_on_our_failures(in_a_sweep: bool):
    """While a sweep runs, sys.stderr leaves out Hydra's notes on jobs that failed by JobFailed.
    A logging handler made meanwhile keeps the stream, which passes everything on afterwards."""
    if not in_a_sweep:
        yield
        return
    filtered = _WithoutHydrasNotesOnOurFailures(sys.stderr)
    sys.stderr = filtered
    try:
        yield
    finally:
        sys.stderr = filtered.stream
        filtered.release()
        filtered.filtering = False


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
