"""The project's one exception family for bad input.

The CLI turns an ``InputError`` into one line on stderr and exit code 2; nothing is written.
"""


class InputError(ValueError):
    """Bad user input: a malformed file, an unknown name, a value out of range. The message names it."""


class ModelError(RuntimeError):
    """A run whose physics does not add up (negative network losses, an energy balance that does not close):
    never reported as a result. The message names the cause; the CLI prints it on one line and exits 1."""
