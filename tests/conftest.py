import warnings

import pandapower as pp
import pytest

warnings.filterwarnings("ignore", category=FutureWarning)


def pytest_configure(config):
    """SimBench nets read by the tests and by the commands they start are cached inside the checkout
    (`.pytest_cache`), never in the user's cache folder (`feeders/simbench_cache.py`)."""
    import os

    os.environ["HOSTCAP_CACHE"] = str(config.cache.mkdir("hostcap"))


@pytest.fixture(scope="session")
def run_cache():
    """Runs on the default feeder shared by the tests of one session, keyed by scenario."""
    from hostcap.studies.scenario.run import run_scenario

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


class Page:
    """What headless Chromium saw of a file: the DOM after scripts ran, console lines, a screenshot."""

    def __init__(self, dom: str, console: list[str], png):
        self.dom, self.console, self.png = dom, console, png

    def errors(self) -> list[str]:
        return [line for line in self.console if "error" in line.lower() or "uncaught" in line.lower()]

    def pixel_std(self) -> float:
        import numpy as np
        from PIL import Image

        return float(np.asarray(Image.open(self.png).convert("L"), dtype=float).std())


@pytest.fixture(scope="session")
def missing():
    """missing(reason): a test lacks a service of the machine (a SLURM cluster, Chromium) that the tests
    never install or start themselves. Skipped with the reason, or failed under CI: `.ci/run`, which
    provides them, exports HOSTCAP_CI=1."""
    import os

    def missing(reason: str):
        if os.environ.get("HOSTCAP_CI") == "1":
            pytest.fail(f"{reason} (HOSTCAP_CI=1: CI provides it)", pytrace=False)
        pytest.skip(reason)

    return missing


@pytest.fixture(scope="session")
def browser(tmp_path_factory, missing):
    """open(path) -> Page: Debian's Chromium, headless and with no network at all (an unreachable proxy, no
    name resolution), as on a locked-down utility network. `.ci/run` installs it (`.ci/chromium`)."""
    import re
    import shutil
    import subprocess
    from pathlib import Path

    if shutil.which("chromium") is None:
        missing("chromium is not installed: `.ci/chromium` installs it (root)")
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             "--proxy-server=127.0.0.1:9", "--host-resolver-rules=MAP * ~NOTFOUND", "--enable-logging=stderr",
             "--v=0", "--virtual-time-budget=8000", "--window-size=1200,900"]

    def open_page(path) -> Page:
        url = Path(path).resolve().as_uri()
        profile = tmp_path_factory.mktemp("chromium")
        dom = subprocess.run(["chromium", *flags, f"--user-data-dir={profile}", "--dump-dom", url],
                             capture_output=True, text=True, timeout=180)
        png = profile / "shot.png"
        shot = subprocess.run(["chromium", *flags, f"--user-data-dir={profile}", f"--screenshot={png}", url],
                              capture_output=True, text=True, timeout=180)
        console = re.findall(r":CONSOLE[^\]]*\] (.*)", dom.stderr + shot.stderr)
        assert png.is_file(), shot.stderr[-2000:]
        return Page(dom.stdout, console, png)

    return open_page
