"""v2g-hostcap: co-simulation and hosting-capacity studies of EV charging, V2G and V2H on distribution
feeders. This file is the top-level package `hostcap` (pyproject maps it to the repository's root; the
subpackages are the folders models/, feeders/, cosim/ and studies/).

    import hostcap
    hostcap.__version__
    r = hostcap.run(strategy="v2g_tou", penetration=0.6, v2g_share=0.5, days=2)   # studies/api.py
    s = hostcap.study("studies/default.yaml")

`run`, `study`, `Run` and `StudyResults` are imported on first use: `import hostcap` stays instant.
"""
from importlib.metadata import version as _version

__version__ = _version("v2g-hostcap")
__all__ = ["__version__", "run", "study", "Run", "StudyResults"]


def __dir__() -> list[str]:
    """The public API (what `__all__` lists), for `dir(hostcap)` and a notebook's tab completion, with the lazy
    names that `__getattr__` imports on first use."""
    return sorted(__all__)


def __getattr__(name: str):
    if name in ("run", "study", "Run", "StudyResults"):
        from hostcap.studies import api

        return getattr(api, name)
    raise AttributeError(f"module 'hostcap' has no attribute {name!r}")
