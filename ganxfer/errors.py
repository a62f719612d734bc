class UserError(Exception):
    """A problem with the user's input (file, config, checkpoint): shown as one message, no traceback."""
