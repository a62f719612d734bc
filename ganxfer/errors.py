"""Every way a run of ganxfer can fail, as the user sees it:

- `UserError`: a mistake in the input (file, config, checkpoint): one paragraph that says what to
  change, exit code 2, no traceback. `TrainingDiverged` and `Interrupted` are kinds of it.
- any other exception: a fault of ganxfer itself. Its traceback is kept, and `fault_report`
  ends it with a request to report it together with the command that ran into it.
- `JobFailed`: one job of a sweep (`-m`) failed in one of the ways above; the sweep goes on."""

from hydra.errors import CompactHydraException

USER_ERROR_EXIT_CODE = 2


class UserError(Exception):
    """A problem with the user's input (file, config, checkpoint): shown as one message, no traceback."""

    exit_code = USER_ERROR_EXIT_CODE


class TrainingDiverged(UserError):
    """Training whose losses or weights stopped being finite: the message names the step and what
    to try (lower learning rates, gradient clipping, another loss)."""


class Interrupted(UserError):
    """Training stopped by SIGINT or SIGTERM after saving a checkpoint; exits 128 + the signal."""

    def __init__(self, message: str, signal_number: int):
        super().__init__(message)
        self.exit_code = 128 + signal_number


class JobFailed(CompactHydraException):
    """Raised by a job of a sweep once its failure is reported and recorded in its folder. Hydra
    records the job as failed (the Optuna sweeper tells its study the trial failed) and goes on to
    the next job; a compact Hydra exception, Hydra shows its message without a traceback when it
    ends the sweep. Its message is `<who> failed; its message is in <error.txt>`."""

    SAYS = "failed; its message is in "  # made with the message alone: a launcher pickles it


def fault_report(command: str) -> str:
    """The last line under the traceback of an exception that is not a UserError."""
    return ("this is a fault in ganxfer itself, not in your input: please report it with the traceback "
            f"above and the command that ran into it: {command}")
