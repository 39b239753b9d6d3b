"""Turn validation failures into the one-line messages the CLI prints."""
from pydantic import ValidationError

from hostcap.models.errors import InputError


def input_error(exc: ValidationError, source: str = "") -> InputError:
    """The first problem of a pydantic ValidationError as an InputError naming the field and value."""
    err = exc.errors()[0]
    field = ".".join(str(p) for p in err["loc"]) or "(top level)"
    msg = err["msg"].removeprefix("Value error, ")
    where = f"{source}: " if source else ""
    value = err.get("input")
    shown = "" if isinstance(value, dict) else f" (got {_short(repr(value))})"
    return InputError(f"{where}{field}: {msg}{shown}")


def _short(text: str, n: int = 80) -> str:
    return text if len(text) <= n else text[: n - 3] + "..."
