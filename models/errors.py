"""The project's one exception family for bad input.

The CLI turns an ``InputError`` into one line on stderr and exit code 2; nothing is written.
"""


class InputError(ValueError):
    """Bad user input: a malformed file, an unknown name, a value out of range. The message names it."""
