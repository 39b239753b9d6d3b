"""The IEC 60076-7 thermal model against the standard's steady state and ageing law by hand, and against an
independent implementation: Alliander's `transformer-thermal-model` (a test dependency)."""
from datetime import datetime, timedelta

import numpy as np
import pytest

from hostcap.models.trafo_thermal import ThermalSpec, ageing_rate, temperatures, thermal_metrics

NO_ENCLOSURE = ThermalSpec(enclosure_surcharge_k=0.0)


def test_rated_load_at_20_c_is_the_standards_rated_hot_spot_and_ages_at_the_rated_rate():
    t = temperatures(np.ones(96), np.full(96, 20.0), 15.0, NO_ENCLOSURE)
    np.testing.assert_allclose(t.top_oil_c, 20 + 55)
    np.testing.assert_allclose(t.hot_spot_c, 20 + 55 + 23)  # 98 °C: V = 1
    m = thermal_metrics(np.full((96, 1), 100.0), np.full(96, 20.0), 0.25, NO_ENCLOSURE)
    assert m["trafo_ageing_rate"] == pytest.approx(1.0) and m["trafo_loss_of_life_days"] == pytest.approx(1.0)
    assert m["trafo_loss_of_life_days_per_year"] == pytest.approx(365.25) and m["trafo_thermal_overload_hours"] == 0
    # every 6 K doubles the rate: 104 °C ages twice as fast, 92 °C half
    np.testing.assert_allclose(ageing_rate([92.0, 98.0, 104.0, 110.0]), [0.5, 1.0, 2.0, 4.0])


def test_a_long_overload_settles_at_the_steady_state_of_the_standard():
    """K = 1.3 after a day at 0.5: the temperatures approach 20 + 55 ((1 + 5 K²) / 6)^0.8 + 23 K^1.6 with the oil's
    time constant (a tenth of a kelvin left after 20 h)."""
    k = np.r_[np.full(96, 0.5), np.full(96, 1.3)]
    t = temperatures(k, np.full(len(k), 20.0), 15.0, NO_ENCLOSURE)
    oil = 20 + 55 * ((1 + 5 * 1.3**2) / 6) ** 0.8
    assert t.top_oil_c[-1] == pytest.approx(oil, abs=0.1)
    assert t.hot_spot_c[-1] == pytest.approx(oil + 23 * 1.3**1.6, abs=0.1)
    assert t.top_oil_c[96 + 11] < oil - 5  # three hours in, the oil has far to go: 180 min time constant


@pytest.mark.parametrize("k21", [1, 2])
def test_temperatures_equal_alliander_transformer_thermal_model(k21):
    """A random day of loading (0-1.6 pu) and ambient, 15-minute steps, from a cold start at ambient: the two
    implementations agree to 1e-9 K (k21 = 2 also exercises the oil-flow term Δθh2)."""
    from transformer_thermal_model.model import Model
    from transformer_thermal_model.schemas import InputProfile, UserTransformerSpecifications
    from transformer_thermal_model.transformer import DistributionTransformer

    rng = np.random.default_rng(3)
    n = 96
    k = rng.uniform(0.0, 1.6, n)
    ambient = 5 + 10 * rng.random(n)
    spec = ThermalSpec(k21=float(k21), enclosure_surcharge_k=0.0)
    ours = temperatures(k, ambient, 15.0, spec, top_oil_start_c=ambient[0])
    # theirs: the state at each timestamp after the load of the interval that ends there; a start point first
    times = [datetime(2016, 1, 4) + timedelta(minutes=15 * i) for i in range(n + 1)]
    specs = UserTransformerSpecifications(load_loss=5000.0, no_load_loss=1000.0, nom_load_sec_side=1.0,
                                          amb_temp_surcharge=0.0, top_oil_temp_rise=55.0, winding_oil_gradient=23.0,
                                          hot_spot_fac=1.0, winding_const_k21=k21)
    profile = InputProfile.create(datetime_index=times, load_profile=np.r_[0.0, k],
                                  ambient_temperature_profile=np.r_[ambient[0], ambient])
    out = Model(temperature_profile=profile, transformer=DistributionTransformer(user_specs=specs),
                init_top_oil_temp=float(ambient[0])).run()
    np.testing.assert_allclose(ours.top_oil_c[:, 0], np.asarray(out.top_oil_temp_profile)[1:], atol=1e-9)
    np.testing.assert_allclose(ours.hot_spot_c[:, 0], np.asarray(out.hot_spot_temp_profile)[1:], atol=1e-9)


def test_a_diverged_step_keeps_the_previous_load_and_nothing_converged_is_nan():
    loading = np.array([[80.0], [np.nan], [120.0], [np.nan]])
    held = np.array([[80.0], [80.0], [120.0], [120.0]])
    ambient = np.zeros(4)
    assert thermal_metrics(loading, ambient, 0.25) == thermal_metrics(held, ambient, 0.25)
    assert all(np.isnan(v) for v in thermal_metrics(np.full((4, 1), np.nan), ambient, 0.25).values())


def test_the_enclosure_adds_its_surcharge_and_a_cold_week_ages_little_at_110_percent():
    """110 % for a week at -5 °C outdoors in a kiosk (+10 K): hot spot 5 + 55 (7.05 / 6)^0.8 + 23 · 1.1^1.6 =
    94.4 °C, ageing at two thirds of the rated rate; the same at 30 °C outdoors: 129.4 °C, above the cyclic
    limit of 120 °C, ageing about 37 times faster than rated."""
    steps = 7 * 96
    cold = thermal_metrics(np.full((steps, 1), 110.0), np.full(steps, -5.0), 0.25)
    hot_spot = 5 + 55 * (7.05 / 6) ** 0.8 + 23 * 1.1**1.6
    assert cold["trafo_hot_spot_max_c"] == pytest.approx(hot_spot) == pytest.approx(94.36, abs=0.01)
    assert cold["trafo_ageing_rate"] == pytest.approx(2 ** ((hot_spot - 98) / 6)) == pytest.approx(0.657, abs=1e-3)
    assert cold["trafo_thermal_overload_hours"] == 0
    warm = thermal_metrics(np.full((steps, 1), 110.0), np.full(steps, 30.0), 0.25)
    assert warm["trafo_ageing_rate"] == pytest.approx(2 ** ((hot_spot + 35 - 98) / 6)) == pytest.approx(37.5, abs=0.1)
    assert warm["trafo_thermal_overload_hours"] == 7 * 24  # its hot spot passes 120 °C
