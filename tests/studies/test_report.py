"""The report says which power flow the runs used, per feeder where it differs."""
import pandas as pd

from hostcap.studies.report import power_flow_text


def test_the_report_names_the_power_flow():
    def runs(flags):
        return pd.DataFrame({"feeder": [f for f, _ in flags], "unbalanced": [u for _, u in flags],
                             "status": "ok"})

    assert power_flow_text(runs([("a", False), ("b", False)])).startswith("balanced")
    assert power_flow_text(runs([("a", True), ("b", True)])).startswith("three-phase")
    mixed = power_flow_text(runs([("rural", False), ("ieee", True)]))  # phases: auto
    assert mixed.startswith("rural: balanced") and "; ieee: three-phase" in mixed
