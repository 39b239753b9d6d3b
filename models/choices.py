"""The charging strategies by name, for the study file and the command line without importing the models
(models/strategies.py implements each; its docstring describes them), and the customer classes that may get an
EV (`feeders/load.py` reads them from a feeder)."""
STRATEGIES = ("uncontrolled", "dimming_14a", "smart", "v2g_tou", "v2h", "volt_watt", "v2g_peak_shave", "v2g_optimal")
# the strategies that discharge bidirectional EVs (V2G, V2H): the ones a value per bidirectional EV is given for
DISCHARGING = ("v2g_tou", "v2h", "volt_watt", "v2g_peak_shave", "v2g_optimal")
CLASSES = ("residential", "commercial", "agricultural")  # the customer classes that may get an EV (`ev_at`)
