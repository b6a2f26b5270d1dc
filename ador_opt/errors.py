"""Errors shared by every stage."""


class InputError(ValueError):
    """Bad user input: the CLI prints it as one line on stderr and exits with code 2."""
