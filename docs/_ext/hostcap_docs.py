"""Local Sphinx extension of the documentation site: the study-file reference generated from the study spec's
JSON schema, the project's plain-prose docstrings turned into reStructuredText that cannot fail a
warnings-as-errors build, and the Markdown pages' links to the README and the changelog pointed at the site's
pages that hold them.

The docstrings are written as plain text with light Markdown habits: `name` for code, paragraphs, "- " items
with indented continuation lines, and blocks indented by four spaces (formulas, diagrams, examples).
`docstring_to_rst` keeps that structure and escapes everything else, so no character of a docstring is read
as reStructuredText markup.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

HERE = Path(__file__).resolve().parent
DOCS = HERE.parent
STUDY_FILE_PAGE = DOCS / "study_file.md"  # generated at every build, git-ignored

# --- docstrings -------------------------------------------------------------------------------------------

_CODE = re.compile(r"`+([^`]+?)`+")
_SPECIAL = re.compile(r"([\\*_|`\[\]<>])")


def _escape(text: str) -> str:
    return _SPECIAL.sub(r"\\\1", text).replace("::", "\\:\\:")  # "::" would announce a literal block


def _inline(text: str) -> str:
    """One line of prose as reStructuredText: `code` spans as inline literals, every other markup character
    escaped, and an escaped space first so that no line can start a list, a field, a table or a directive."""
    out, pos = [], 0
    for m in _CODE.finditer(text):
        out.append(_escape(text[pos:m.start()]))
        code = m.group(1).strip()
        out.append(f"\\ ``{code}``\\ " if code else _escape(m.group(0)))
        pos = m.end()
    out.append(_escape(text[pos:]))
    return "\\ " + "".join(out).strip()


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def docstring_to_rst(lines: list[str]) -> list[str]:
    """Plain-prose docstring lines (already dedented by autodoc) -> reStructuredText lines.

    Blocks: a paragraph (lines at the left margin), a list (lines starting with "- " or "* " at the margin,
    each item with its continuation lines indented), a literal block (any other indented run of lines, kept
    as it is). A paragraph becomes one line; list items one line each."""
    out: list[str] = []
    lines = [line.expandtabs(4).rstrip() for line in lines]
    i, n = 0, len(lines)

    def blank() -> None:
        if out and out[-1] != "":
            out.append("")

    while i < n:
        line = lines[i]
        if not line:
            blank()
            i += 1
        elif _indent(line) > 0:  # a literal block: up to the next line at the margin
            j = i
            while j < n and (not lines[j] or _indent(lines[j]) > 0):
                j += 1
            block = lines[i:j]
            while block and not block[-1]:
                block.pop()
            margin = min(_indent(x) for x in block if x)
            blank()
            out += ["::", ""] + ["    " + x[margin:] if x else "" for x in block] + [""]
            i = j
        elif line[:2] in ("- ", "* "):  # a list: items at the margin, continuation lines indented
            blank()
            while i < n and lines[i][:2] in ("- ", "* "):
                item = [lines[i][2:]]
                i += 1
                while i < n and lines[i] and _indent(lines[i]) > 0:
                    item.append(lines[i].strip())
                    i += 1
                out.append("- " + _inline(" ".join(item)))
            out.append("")
        else:  # a paragraph: up to a blank line, a list item or an indented line
            para = []
            while i < n and lines[i] and _indent(lines[i]) == 0 and lines[i][:2] not in ("- ", "* "):
                para.append(lines[i])
                i += 1
            blank()
            out += [_inline(" ".join(para)), ""]
    while out and not out[-1]:
        out.pop()
    return out + [""] if out else out


def process_docstring(app, what, name, obj, options, lines: list[str]) -> None:
    lines[:] = docstring_to_rst(lines)


# --- links out of docs/ -----------------------------------------------------------------------------------

# The Markdown pages link to the README and the changelog as a reader on the repository's web page sees them
# (`../README.md`); on the site the same text lives on a page of its own.
_OUTSIDE = {"../README.md": "start.md", "../CHANGELOG.md": "changelog.md"}
_OUTSIDE_LINK = re.compile(r"\]\((" + "|".join(re.escape(k) for k in _OUTSIDE) + r")([#)])")


def rewrite_outside_links(app, docname: str, source: list[str]) -> None:
    """`[changelog](../CHANGELOG.md)` in a page of docs/ -> `[changelog](changelog.md)` (source-read)."""
    source[0] = _OUTSIDE_LINK.sub(lambda m: f"]({_OUTSIDE[m.group(1)]}{m.group(2)}", source[0])


# --- the study-file reference ---------------------------------------------------------------------------

def _cell(text: str) -> str:
    return " ".join(str(text).split()).replace("|", "\\|")


def _type(prop: dict) -> str:
    """A property's type in words, with its bounds, e.g. `number, 0.9 to 1.1, or null`."""
    if "$ref" in prop:
        name = prop["$ref"].rsplit("/", 1)[-1]
        return f"[{name}](#{name.lower()})"
    if "anyOf" in prop:
        return " or ".join(_type(p) for p in prop["anyOf"])
    if "allOf" in prop and len(prop["allOf"]) == 1:
        return _type(prop["allOf"][0])
    if "const" in prop:
        return f"`{json.dumps(prop['const'])}`"
    if "enum" in prop:
        return "one of " + ", ".join(f"`{json.dumps(v)}`" for v in prop["enum"])
    kind = prop.get("type", "any")
    if isinstance(kind, list):
        kind = " or ".join(kind)
    if kind == "array":
        if "prefixItems" in prop:
            kind = "[" + ", ".join(_type(p) for p in prop["prefixItems"]) + "]"
        else:
            kind = "list of " + (_type(prop["items"]) if "items" in prop else "any")
    elif kind == "object" and isinstance(prop.get("additionalProperties"), dict):
        kind = "mapping to " + _type(prop["additionalProperties"])
    bounds = []
    for key, word in (("minimum", ">="), ("exclusiveMinimum", ">"), ("maximum", "<="), ("exclusiveMaximum", "<"),
                      ("minItems", "items >="), ("maxItems", "items <="), ("minLength", "length >="),
                      ("maxLength", "length <=")):
        if key in prop and not (key in ("minItems", "maxItems") and "prefixItems" in prop):
            bounds.append(f"{word} {prop[key]}")
    if "pattern" in prop:
        bounds.append(f"matching `{prop['pattern']}`")
    return kind + (" (" + ", ".join(bounds) + ")" if bounds else "")


def _default(name: str, prop: dict, required: list[str]) -> str:
    if name in required:
        return "required"
    if "default" not in prop:
        return ""
    return f"`{json.dumps(prop['default'])}`"


def _table(model: dict) -> list[str]:
    required = model.get("required", [])
    rows = ["| field | type | default | description |", "|---|---|---|---|"]
    for name, prop in model.get("properties", {}).items():
        rows.append(f"| `{name}` | {_cell(_type(prop))} | {_cell(_default(name, prop, required))} | "
                    f"{_cell(prop.get('description', ''))} |")
    return rows


def _model_order(schema: dict) -> list[str]:
    """The models in the order a reader meets them: breadth first from the study file's top level."""
    defs = schema.get("$defs", {})
    order, queue = [], [schema]
    while queue:
        refs = re.findall(r'"\$ref": "#/\$defs/([^"]+)"', json.dumps(queue.pop(0)))
        for ref in refs:
            if ref not in order and ref in defs:
                order.append(ref)
                queue.append(defs[ref])
    return order + [name for name in defs if name not in order]


def schema_markdown(schema: dict) -> str:
    """The study-file reference page (MyST Markdown): one table per model of the schema."""
    defs = schema.get("$defs", {})
    out = [
        "# Study-file reference",
        "",
        "<!-- generated by docs/_ext/hostcap_docs.py from hostcap.studies.spec.json_schema(); do not edit -->",
        "",
        "Every field a study file (YAML) can hold, generated at each build from the study spec's pydantic "
        "models (`studies/spec.py`). `hostcap schema` prints the same JSON schema; `studies/study.schema.json` "
        "is its checked-in copy. An unknown field is refused, as is a value outside its type or bounds: the "
        "tool names the field and exits with status 2. How the fields are used: [user guide](reference.md).",
        "",
        "## The study file",
        "",
        *([_cell(schema["description"]), ""] if schema.get("description") else []),
        *_table(schema),
    ]
    for name in _model_order(schema):
        model = defs[name]
        out += ["", f"## {name}", ""]
        if model.get("description"):
            out += [_cell(model["description"]), ""]
        if model.get("properties"):
            out += _table(model)
        else:
            out += [f"Type: {_cell(_type(model))}."]
    return "\n".join(out) + "\n"


def write_study_file_page(app) -> None:
    from hostcap.studies.spec import json_schema

    text = schema_markdown(json.loads(json_schema()))
    if not STUDY_FILE_PAGE.exists() or STUDY_FILE_PAGE.read_text() != text:  # unchanged: no rebuild
        STUDY_FILE_PAGE.write_text(text)


def setup(app):
    app.connect("builder-inited", write_study_file_page)
    app.connect("autodoc-process-docstring", process_docstring)
    app.connect("source-read", rewrite_outside_links)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
