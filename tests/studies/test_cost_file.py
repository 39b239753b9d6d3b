"""The reinforcement cost file: the shipped one reads as the planner's costs, a bad one is refused with one line
naming the file and field."""
import pytest

from hostcap.models.errors import InputError
from hostcap.models.reinforcement import Costs
from hostcap.studies.cost_file import SHIPPED, load_costs

GOOD = """name: t
currency: EUR
lv_cable_keur_per_km: {rural: 60, urban: 100}
mv_lv_transformer_keur: 10
"""


def test_the_shipped_file_gives_edisgos_figures_by_density():
    assert load_costs() == Costs(lv_cable_keur_per_km=60.0, mv_lv_transformer_keur=10.0)
    assert load_costs(SHIPPED, "urban").lv_cable_keur_per_km == 100.0


@pytest.mark.parametrize("change, field", [
    ("mv_lv_transformer_keur: 10000", "mv_lv_transformer_keur"),  # EUR where kEUR is asked for
    ("lv_cable_keur_per_km: {rural: 60000, urban: 100}", "lv_cable_keur_per_km.rural"),
    ("lv_cable_keur_per_km: {rural: -1, urban: 100}", "lv_cable_keur_per_km.rural"),
    ("mv_lv_transformer_keur: .nan", "mv_lv_transformer_keur"),
    ("standard_cable: NAYY 4x999", "standard_cable"),
    ("currency: USD", "currency"),
    ("colour: red", "colour"),
])
def test_a_bad_cost_file_names_its_field(tmp_path, change, field):
    key = change.split(":", 1)[0]
    path = tmp_path / "c.yaml"
    path.write_text("\n".join(line for line in GOOD.splitlines() if not line.startswith(key + ":")) + "\n" + change)
    with pytest.raises(InputError) as err:
        load_costs(path)
    assert str(err.value).startswith(f"costs: {path}: {field}:") and "\n" not in str(err.value)


def test_a_missing_file_and_an_unknown_density_are_named(tmp_path):
    with pytest.raises(InputError, match="costs: .*not found"):
        load_costs(tmp_path / "none.yaml")
    (tmp_path / "c.yaml").write_text(GOOD)
    with pytest.raises(InputError, match="costs: density: 'suburban'"):
        load_costs(tmp_path / "c.yaml", "suburban")
