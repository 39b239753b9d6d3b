"""Feeders: load a pandapower net with its connection points and profiles, validate it, give its geodata.

    from hostcap.feeders import load_feeder
    feeder = load_feeder("simbench:1-LV-rural3--0-sw")
"""
from hostcap.feeders.load import DEFAULT_FEEDER, Feeder, load_feeder

__all__ = ["DEFAULT_FEEDER", "Feeder", "load_feeder"]
