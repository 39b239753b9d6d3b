"""The recorded series are declared once (`models/series.py`): a run records exactly the declared series
in the declared shapes, the study file's `keep_timeseries` offers exactly the declared tables, and the
memory model sizes a run by the same table."""
import numpy as np
import pytest

from hostcap.models.series import BY_NAME, bytes_per_step, recorded, table_names
from hostcap.studies.outputs import timeseries_tables
from hostcap.studies.scenario.run import run_scenario
from hostcap.studies.scenario.settings import Scenario
from hostcap.studies.spec import TIMESERIES

OUTAGES = {"windows": [{"start": "2016-01-11T18:00", "hours": 2}], "v2h_share": 0.5}


@pytest.mark.parametrize("settings", [
    dict(strategy="v2g_peak_shave", outages=OUTAGES),
    dict(strategy="smart", phases="unbalanced", feeder="simbench:1-LV-rural1--0-sw"),
    dict(strategy="dimming_14a", heat_pump_share=0.5, penetration=1.5),
])
def test_a_run_records_the_declared_series_in_their_shapes(settings):
    r = run_scenario(Scenario(days=1, v2g_share=0.5, battery_wear=None, **{"penetration": 0.5, **settings}))
    net, n_steps = r.inputs.feeder.net, r.inputs.n_steps
    sizes = dict(ev=r.inputs.fleet.n, cp=len(r.inputs.cp_bus_pos), bus=len(net.bus), line=len(net.line),
                 trafo=len(net.trafo))
    expected = recorded(unbalanced=r.inputs.unbalanced, batteries=r.inputs.households.batteries.present,
                        outages="outages" in settings, aggregator=settings["strategy"] == "v2g_peak_shave",
                        dimming=settings["strategy"] == "dimming_14a")
    assert sorted(r.series) == sorted(s.name for s in expected)
    for s in expected:
        assert r.series[s.name].shape == ((n_steps,) if s.per_step else ()) + s.shape(sizes), s.name
    tables = timeseries_tables(r)
    assert set(tables) <= set(TIMESERIES) == set(table_names())
    written = {}
    for s in expected:
        for k, name in enumerate(s.tables(r.inputs.unbalanced)):
            written[name] = r.series[s.name][..., k] if "phase" in s.dims else r.series[s.name]
    assert set(tables) == {*written, "feeder/extremes"}
    for name, values in written.items():
        np.testing.assert_array_equal(tables[name].to_numpy(), values.reshape(n_steps, -1), err_msg=name)
    assert bytes_per_step(expected, sizes) == 8 * sum(np.prod(s.shape(sizes)) for s in expected if s.per_step)
    assert BY_NAME["vm_pu"].tables(False) == ["res_bus/vm_pu"]
