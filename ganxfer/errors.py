class UserError(Exception):
    """A problem with the user's input (file, config, checkpoint): shown as one message, no traceback."""


class Interrupted(UserError):
    """Training stopped by SIGINT or SIGTERM after saving a checkpoint; exits 128 + the signal."""

    def __init__(self, message: str, signal_number: int):
        super().__init__(message)
        self.exit_code = 128 + signal_number
