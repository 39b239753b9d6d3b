"""Small YAML files read within bounds: alias bombs, self-containing aliases and deep nesting are refused in
one line, in seconds (an alias bomb took 107 s and all memory), before any object is built."""
import time

import pytest

from hostcap.models.errors import InputError
from hostcap.studies.yaml_input import MAX_NODES, load_yaml


@pytest.mark.parametrize("text, message", [
    # 81 aliases (within MAX_ALIASES) that expand to 9 ** 10 nodes
    ("a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join([f'*{chr(97 + i)}'] * 9)}]\n" for i in range(9)),
     f"its aliases expand to more than {MAX_NODES:,} nodes"),
    ("a: &a [*a]\n", "its aliases expand to more than"),
    ("a: " + "[" * 2_000 + "]" * 2_000 + "\n", "nested too deeply"),
    ("a: 1\na: 2\n", "key 'a' appears twice"),
], ids=["alias bomb of few aliases", "alias of itself", "deep nesting", "repeated key"])
def test_hostile_yaml_is_refused_in_one_line_within_seconds(tmp_path, text, message):
    path = tmp_path / "s.yaml"
    path.write_text(text)
    t0 = time.monotonic()
    with pytest.raises(InputError, match=message) as err:
        load_yaml(path, "study file")
    assert time.monotonic() - t0 < 5.0 and "\n" not in str(err.value)


def test_shared_nodes_within_the_bound_are_read():
    """Anchors used as intended (a block repeated a few times) expand normally."""
    import yaml

    from hostcap.studies.yaml_input import _StrictLoader

    data = yaml.load("base: &b {step: 15, band: en50160}\nruns: [*b, *b, *b]\n", Loader=_StrictLoader)  # noqa: S506
    assert data["runs"] == [{"step": 15, "band": "en50160"}] * 3
