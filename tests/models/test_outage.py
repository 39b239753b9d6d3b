"""Outages: windows and SAIFI/CAIDI draws to de-energised steps, an islanded home's step, backup figures."""
import numpy as np
import pandas as pd
import pytest

from hostcap.models.errors import InputError
from hostcap.models.outage import Outages, OutageWindow, backup_energy, check_windows, deenergised, island

INDEX = pd.date_range("2016-01-11", periods=96, freq="15min")
BUSES = np.array([3, 7, 9])


def test_a_bad_window_is_refused_naming_its_field_not_a_command_line_flag():
    """The model knows no command line: `hostcap run --outage` parses its text (studies/cli.py)."""
    from pydantic import ValidationError

    import hostcap.models.outage as outage

    assert not hasattr(outage, "parse_outage")
    for fields, name in [({"start": "noon", "hours": 3}, "start"), ({"start": "2016-01-12T18:00", "hours": -1},
                                                                     "hours")]:
        with pytest.raises(ValidationError) as err:
            OutageWindow(**fields)
        assert err.value.errors()[0]["loc"] == (name,) and "--" not in str(err.value)


def test_windows_take_out_their_buses_for_their_steps():
    out = Outages(windows=[OutageWindow(start="2016-01-11T18:00", hours=2),
                           OutageWindow(start="2016-01-11T06:00", hours=0.5, buses=[7])])
    dark = deenergised(out, index=INDEX, dt_s=900, bus_index=BUSES, rng=np.random.default_rng(0))
    assert dark.shape == (96, 3)
    assert dark[72:80].all() and dark[:72, [0, 2]].sum() == 0 and dark[80:].sum() == 0  # 18:00-20:00, all
    assert dark[24:26, 1].all() and dark[:24, 1].sum() == 0 and dark[26:72, 1].sum() == 0  # 06:00-06:30, bus 7


WINTER, SUMMER = ((pd.Timestamp(d), pd.Timestamp(d) + pd.Timedelta(days=7)) for d in ("2016-01-11", "2016-07-04"))


@pytest.mark.parametrize("start, hours, buses, message", [
    ("2016-01-11", 1, [4], r"^outages.windows.0.buses: bus 4 is not in the feeder$"),
    ("2016-03-01T18:00", 3, None, r"^outages.windows.0: 2016-03-01T18:00 \+ 3 h lies outside the simulated periods "
                                  r"\(2016-01-11 00:00 to 2016-01-18 00:00, 2016-07-04 00:00 to 2016-07-11 00:00\)$"),
    ("2016-01-10T18:00", 6, None, "lies outside"),  # ends at midnight, as the period starts
    ("2016-07-11T00:00", 1, None, "lies outside"),  # starts as the period ends
])
def test_windows_outside_every_period_or_on_unknown_buses_are_refused(start, hours, buses, message):
    window = OutageWindow(start=start, hours=hours, buses=buses)
    with pytest.raises(InputError, match=message):
        check_windows(Outages(windows=[window]), periods=[WINTER, SUMMER], bus_index=BUSES)


def test_a_window_in_one_of_the_periods_is_taken():
    """A study's winter outage is no outage of its summer week, and not refused for it."""
    check_windows(Outages(windows=[OutageWindow(start="2016-01-10T22:00", hours=3, buses=[7])]),
                  periods=[WINTER, SUMMER], bus_index=BUSES)


def test_saifi_caidi_draws_follow_the_seed_and_the_rates():
    rates = Outages(saifi=365.0 * 4, caidi_h=1.0)  # four interruptions a day on average
    a = deenergised(rates, index=INDEX, dt_s=900, bus_index=BUSES, rng=np.random.default_rng(5))
    b = deenergised(rates, index=INDEX, dt_s=900, bus_index=BUSES, rng=np.random.default_rng(5))
    np.testing.assert_array_equal(a, b)
    assert a.any() and (a == a[:, :1]).all()  # whole feeder
    none = Outages(saifi=0.0, caidi_h=2.0)
    assert not deenergised(none, index=INDEX, dt_s=900, bus_index=BUSES, rng=np.random.default_rng(5)).any()
    # over many draws the outage hours per day approach saifi x caidi / 365 (less where windows overlap)
    hours = [deenergised(Outages(saifi=36.5, caidi_h=2.0), index=INDEX, dt_s=900, bus_index=BUSES,
                         rng=np.random.default_rng(s))[:, 0].sum() / 4 for s in range(400)]
    assert 0.15 < np.mean(hours) < 0.25  # 0.2 h a day expected
    with pytest.raises(ValueError, match="saifi and caidi_h go together"):
        Outages(saifi=1.0)
    with pytest.raises(ValueError, match="give windows, or saifi and caidi_h"):
        Outages()


def test_an_islanded_home_by_hand():
    # three homes, 15 minutes: A needs 4 kW, no PV, EV well filled; B needs 4 kW with 1 kW PV but its EV is
    # 0.5 kWh above its reserve; C has 3 kW of PV surplus and an EV with room
    p, served = island(demand_kw=np.array([4.0, 4.0, 1.0]), pv_kw=np.array([0.0, 1.0, 4.0]),
                       e_kwh=np.array([40.0, 12.5, 30.0]), floor_kwh=np.array([12.0, 12.0, 12.0]),
                       p_ch_max_kw=np.full(3, 11.0), p_dis_max_kw=np.full(3, 11.0), eta_ch=np.full(3, 0.9),
                       eta_dis=np.full(3, 0.9), capacity_kwh=np.full(3, 60.0), dt_h=0.25)
    assert p[0] == pytest.approx(-4.0) and served[0] == pytest.approx(4.0)
    assert p[1] == pytest.approx(-0.5 * 0.9 / 0.25) and served[1] == pytest.approx(1.0 + 1.8)  # down to reserve
    assert p[2] == pytest.approx(3.0) and served[2] == pytest.approx(1.0)  # the surplus charges the EV


def test_backup_figures_by_hand():
    # two homes, four hours, both dark in hours 1 and 2; home 0 islanded and covered in hour 1 only
    load = np.array([[1.0, 2.0]] * 4)
    powered = np.array([[True, True], [False, False], [False, False], [True, True]])
    islanded = np.array([[False, False], [True, False], [True, False], [False, False]])
    served = np.array([[0, 0], [1.0, 0], [0.4, 0], [0, 0]])
    b = backup_energy(load_kw=load, powered=powered, islanded=islanded, served_kw=served, critical_load_share=1.0,
                      dt_h=1.0)
    np.testing.assert_allclose(b["outage_h"], [2, 2])
    np.testing.assert_allclose(b["outage_unserved_kwh"], [0.6, 4.0])
    np.testing.assert_allclose(b["outage_unserved_no_v2h_kwh"], [2.0, 4.0])  # all of their demand
    np.testing.assert_allclose(b["backup_h"], [1, 0])
    np.testing.assert_allclose(b["outage_covered_share"], [0.5, 0.0])
