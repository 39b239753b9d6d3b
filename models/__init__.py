"""Pure, vectorised domain models: EV fleet, mobility, households, charging strategies, limits, metrics.

Nothing here imports mosaik, reads files or knows about Dask: state is numpy arrays over all EVs and
households, and a step is array arithmetic. Load sign convention as pandapower: positive p = consumption.
"""
