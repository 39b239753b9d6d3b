"""Households as one mosaik entity: net demand (load minus rooftop PV) and reactive demand per
connection point."""
from hostcap.cosim.base import PopulationSim


class HouseholdSim(PopulationSim):
    MODEL = "Households"
    ATTRS = ["p_kw", "q_kvar"]

    def step(self, time, inputs, max_advance):
        hh = self.inputs.households
        self.outputs = {"p_kw": hh.net_p_kw(time).tolist(), "q_kvar": hh.q_kvar(time).tolist()}
        return time + 1
