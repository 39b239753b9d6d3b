"""Turn validation failures into the one-line messages the CLI prints."""
import difflib
import re

from pydantic import ValidationError

from hostcap.models.errors import InputError


def input_error(exc: ValidationError, source: str = "") -> InputError:
    """The first problem of a pydantic ValidationError as an InputError naming the field and value."""
    errors = exc.errors()
    err = next((e for e in errors if not _wrong_branch(e)), errors[0])
    field = ".".join(str(p) for p in err["loc"] if not _union_tag(p))
    msg = err["msg"].removeprefix("Value error, ")
    if not field and (named := re.match(r"([a-z_0-9.]+): (.*)", msg)):  # a check across fields names its field
        field, msg = named.groups()
    field = field or "(top level)"
    where = f"{source}: " if source else ""
    value = err.get("input")
    shown = "" if isinstance(value, dict) else f" (got {_short(repr(value))})"
    if err["type"] == "literal_error" and isinstance(value, str):  # a misspelt name: say which was meant
        shown += did_you_mean(value, re.findall(r"'([^']*)'", err.get("ctx", {}).get("expected", "")))
    return InputError(f"{where}{field}: {msg}{shown}")


def did_you_mean(name: str, choices) -> str:
    """'; did you mean 'v2g_tou'?' for the choice closest to a misspelt name ('' when none is close)."""
    close = difflib.get_close_matches(name, list(choices), n=1, cutoff=0.6)
    return f"; did you mean '{close[0]}'?" if close else ""


def _wrong_branch(err: dict) -> bool:
    """A union member that does not apply to the value's kind (a mapping tried as a literal, a string as a
    model), so the member that does names the problem."""
    scalar = err["type"] in ("literal_error", "int_type", "int_parsing", "float_type", "float_parsing",
                             "string_type", "bool_type", "bool_parsing")
    return err["type"] in ("model_type", "dict_type") or (scalar and isinstance(err.get("input"), dict))


def _union_tag(part) -> bool:
    """pydantic's name of a union member in an error's location (`Period`, `literal['year','seasons']`,
    `constrained-int`); field names are lower-case slugs."""
    return isinstance(part, str) and (part[:1].isupper() or part.startswith(("literal[", "constrained-", "function-"))
                                      or part in ("int", "float", "str", "bool"))


def _short(text: str, n: int = 80) -> str:
    return text if len(text) <= n else text[: n - 3] + "..."
