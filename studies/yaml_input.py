"""The small YAML files a user gives (study files, tariffs), read strictly and within bounds.

Before anything is built from a file: it must be at most `MAX_FILE_BYTES` long and UTF-8 text; its parse
may use at most `MAX_ALIASES` aliases and, once every alias is expanded (a node shared by aliases counted at
each use), hold at most `MAX_NODES` nodes. An alias bomb (the "billion laughs" attack on YAML: a few lines
whose nested aliases expand to billions of nodes) is refused from its parse tree, before any object is
constructed. A mapping may not repeat a key. Each failure is one line naming the file.
"""
from pathlib import Path

import yaml

from hostcap.models.errors import InputError

MAX_FILE_BYTES = 1_000_000
MAX_ALIASES = 100
MAX_NODES = 100_000  # the largest shipped study file has a few hundred nodes


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that refuses repeated mapping keys and bounds aliases and the expanded document."""

    def __init__(self, stream):
        super().__init__(stream)
        self.aliases = 0

    def compose_node(self, parent, index):
        if self.check_event(yaml.AliasEvent):
            self.aliases += 1
            if self.aliases > MAX_ALIASES:
                raise yaml.YAMLError(f"more than {MAX_ALIASES} aliases")
        return super().compose_node(parent, index)

    def compose_document(self):
        node = super().compose_document()
        if node is not None and _expanded_nodes(node, {}) > MAX_NODES:
            raise yaml.YAMLError(f"its aliases expand to more than {MAX_NODES:,} nodes")
        return node

    def construct_mapping(self, node, deep=False):
        keys = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            if isinstance(key, (str, int, float, bool)) and key in keys:
                raise yaml.constructor.ConstructorError(
                    None, None, f"key '{key}' appears twice", key_node.start_mark)
            keys.add(key)
        return super().construct_mapping(node, deep)


def _expanded_nodes(node: yaml.Node, counted: dict) -> int:
    """Nodes under `node` with every alias expanded; `counted` holds the count of each node seen (a node
    reached again through an alias is not walked again). A node that contains itself counts as too many."""
    if id(node) in counted:
        return counted[id(node)]
    counted[id(node)] = MAX_NODES + 1  # until its children are counted: a recursive alias is too many
    if isinstance(node, yaml.SequenceNode):
        children = node.value
    elif isinstance(node, yaml.MappingNode):
        children = [n for pair in node.value for n in pair]
    else:
        children = []
    total = 1
    for child in children:
        total += _expanded_nodes(child, counted)
        if total > MAX_NODES:
            break
    counted[id(node)] = total
    return total


def load_yaml(path: Path, what: str):
    """Parse a small YAML file strictly (module docstring): one line naming the file and the problem on
    failure. `what` names the file's role in that line ("study file", "tariff")."""
    if not path.is_file():
        raise InputError(f"{what} {'is a folder, not a file' if path.is_dir() else 'not found'}: {path}")
    if path.stat().st_size > MAX_FILE_BYTES:
        raise InputError(f"{path}: larger than {MAX_FILE_BYTES // 1000} kB, not a {what}")
    try:
        return yaml.load(path.read_bytes().decode("utf-8"), Loader=_StrictLoader)  # noqa: S506 - SafeLoader
    except UnicodeDecodeError:
        raise InputError(f"{path}: not a text file (UTF-8), not a {what}") from None
    except RecursionError:
        raise InputError(f"{path}: nested too deeply, not a {what}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise InputError(f"{path}: not valid YAML{where}: {problem}".splitlines()[0]) from None
