import warnings

import pandapower as pp
import pytest

warnings.filterwarnings("ignore", category=FutureWarning)


@pytest.fixture(scope="session")
def run_cache():
    """Runs on the default feeder shared by the tests of one session, keyed by scenario."""
    from hostcap.cosim.world import run_scenario

    cache = {}

    def get(scenario):
        key = scenario.model_dump_json()
        if key not in cache:
            cache[key] = run_scenario(scenario)
        return cache[key]

    return get


def make_tiny_net(*, line_km=0.05, line_type="NAYY 4x150 SE", loads_per_bus=1, p_mw=0.004, q_mvar=0.001,
                  pv_mw=0.005):
    """A small radial LV feeder: MV slack, 20/0.4 kV transformer, a cable of three sections with
    households at each section's end and rooftop PV at the last."""
    net = pp.create_empty_network()
    mv = pp.create_bus(net, 20.0)
    lv = [pp.create_bus(net, 0.4) for _ in range(4)]
    pp.create_ext_grid(net, mv)
    pp.create_transformer(net, mv, lv[0], "0.25 MVA 20/0.4 kV")
    for a, b in zip(lv[:-1], lv[1:]):
        pp.create_line(net, a, b, line_km, line_type)
    for b in lv[1:]:
        for _ in range(loads_per_bus):
            pp.create_load(net, b, p_mw=p_mw, q_mvar=q_mvar)
    if pv_mw:
        pp.create_sgen(net, lv[-1], p_mw=pv_mw)
    return net


@pytest.fixture(scope="session")
def tiny_net_factory():
    return make_tiny_net


@pytest.fixture
def tiny_net():
    return make_tiny_net()


@pytest.fixture
def tiny_feeder(tmp_path, tiny_net):
    """Path of the tiny feeder saved as pandapower JSON."""
    path = tmp_path / "tiny.json"
    pp.to_json(tiny_net, str(path))
    return str(path)
