"""Feeders: load a pandapower net with its connection points and profiles, validate it, give its geodata.

    from hostcap.feeders import load_feeder
    feeder = load_feeder("simbench:1-LV-rural3--0-sw")

`Feeder` and `load_feeder` are imported on first use, so that the command line can name the default feeder
without importing pandapower (about 2 s).
"""
DEFAULT_FEEDER = "simbench:1-LV-rural3--0-sw"

__all__ = ["DEFAULT_FEEDER", "Feeder", "load_feeder"]


def __getattr__(name: str):
    if name in ("Feeder", "load_feeder"):
        from hostcap.feeders import load

        return getattr(load, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
