"""The Python API (`import hostcap`), the version and the README's notebook example, run as a user runs
it: a plain script without an `if __name__ == "__main__"` guard, in a fresh interpreter."""
import re
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest

import hostcap
from hostcap.models.errors import InputError

ROOT = Path(__file__).resolve().parents[2]


def test_version_from_python_and_the_command_line():
    version = metadata.version("v2g-hostcap")
    out = subprocess.run([sys.executable, "-c", "import hostcap; print(hostcap.__version__)"],
                         capture_output=True, text=True, check=True)
    assert out.stdout.strip() == version == hostcap.__version__
    cli = subprocess.run(["hostcap", "--version"], capture_output=True, text=True, check=True)
    assert cli.stdout.strip() == f"hostcap, version {version}"


def test_help_does_not_import_the_models():
    """`hostcap --help` stays fast by importing neither pandapower nor numba (about 3 s between them)."""
    code = ("import sys; from hostcap.studies.cli import main; rc = main(['--help']); "
            "print(sorted(m for m in ('pandapower', 'numba', 'mosaik', 'dask') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == "[]" and "Usage: hostcap" in out.stdout


def test_run_returns_metrics_violations_and_tables():
    r = hostcap.run(strategy="v2g_tou", penetration=1.0, v2g_share=1.0, days=1, band="ansi_a", slack_vm_pu=1.03)
    assert r.metrics["v_max_pu"] > 1.05 and "overvoltage" in r.violations
    vm = r.timeseries("res_bus/vm_pu")
    assert vm.shape == (96, 129) and vm.max().max() == pytest.approx(r.metrics["v_max_pu"])
    assert len(r.vehicles) == r.metrics["n_ev"] == 113
    assert set(r.elements["element"]) == {"bus", "line", "trafo"}
    with pytest.raises(KeyError, match="res_bus/vm_pu"):
        r.timeseries("nope")
    with pytest.raises(InputError, match="penetration"):
        hostcap.run(penetration=2.5)


def readme_example() -> str:
    text = (ROOT / "README.md").read_text()
    block = re.search(r"<!-- api-example -->\s*```python\n(.*?)```", text, flags=re.S)
    assert block, "README has no API example"
    return block.group(1)


def test_readme_notebook_example_runs_as_a_plain_script(tmp_path):
    code = readme_example()
    assert "__main__" not in code and len(code.strip().splitlines()) <= 8
    (tmp_path / "example.py").write_text(code)
    out = subprocess.run([sys.executable, "example.py"], cwd=tmp_path, capture_output=True, text=True, timeout=900)
    assert out.returncode == 0, out.stderr[-3000:]
    assert hostcap.__version__ in out.stdout
    assert "v2g_tou" in out.stdout and "hc_point_frac" in out.stdout  # the study's answer, printed
    assert (tmp_path / "results").is_dir()
    assert "Nanny failed" not in out.stderr and " INFO " not in out.stderr  # quiet Dask
