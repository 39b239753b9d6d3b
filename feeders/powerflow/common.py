"""What the balanced (`balanced.py`) and the three-phase (`three_phase.py`) solvers share: results with the
sample first, and the branch ratings that turn currents into pandapower's loading_percent."""
from dataclasses import dataclass

import numpy as np


class SampleRows:
    """Results with the sample first in every field (a dataclass's)."""

    def set_rows(self, rows: np.ndarray, part) -> None:
        """Take the results of samples `rows` from `part` (one row per entry of `rows`)."""
        for name in self.__dataclass_fields__:
            getattr(self, name)[rows] = getattr(part, name)


@dataclass(frozen=True)
class Ratings:
    """What turns branch-end currents (in pandapower's internal branch order) into pandapower's
    loading_percent (`pct_per_pu`): lines' current over max_i_ka x df x parallel, transformers' over their
    rated current at each side, the higher end; out-of-service branches 0."""

    line: slice  # the lines' and the transformers' rows among the internal branches
    trafo: slice
    line_i_max_ka: np.ndarray
    line_on: np.ndarray
    trafo_vn_kv: np.ndarray  # (n_trafo, 2) rated voltage of the HV and LV side
    trafo_sn_mva: np.ndarray
    trafo_on: np.ndarray

    @classmethod
    def of(cls, net) -> "Ratings":
        """The ratings of a net on which pandapower has built its internal model (a power flow ran)."""
        lookups = net._pd2ppc_lookups["branch"]
        line, trafo = net.line, net.trafo
        return cls(slice(*lookups["line"]) if "line" in lookups else slice(0, 0),
                   slice(*lookups["trafo"]) if "trafo" in lookups else slice(0, 0),
                   (line["max_i_ka"] * line["df"] * line["parallel"]).to_numpy(), line["in_service"].to_numpy(bool),
                   np.column_stack([trafo["vn_hv_kv"], trafo["vn_lv_kv"]]),
                   (trafo["sn_mva"] * trafo["parallel"] * trafo["df"]).to_numpy(), trafo["in_service"].to_numpy(bool))

    def pct_per_pu(self, f_bus: np.ndarray, t_bus: np.ndarray, base_kv: np.ndarray, base_mva: float
                   ) -> tuple[np.ndarray, np.ndarray]:
        """Per internal branch, the loading (%) of one per-unit current at its from and its to end (0 for
        branches out of service or neither line nor transformer): a current of |I| pu is |I| S_base /
        (sqrt(3) V_base) kA at the end's bus (f_bus, t_bus: the branches' end buses; base_kv per bus)."""
        ka_f = base_mva / (np.sqrt(3) * base_kv[f_bus])
        ka_t = base_mva / (np.sqrt(3) * base_kv[t_bus])
        per_f, per_t = np.zeros(len(f_bus)), np.zeros(len(f_bus))
        li, tr = self.line, self.trafo
        on = np.where(self.line_on, 100.0 / self.line_i_max_ka, 0.0)
        per_f[li], per_t[li] = ka_f[li] * on, ka_t[li] * on
        on = np.where(self.trafo_on, np.sqrt(3) / self.trafo_sn_mva * 100.0, 0.0)
        per_f[tr], per_t[tr] = ka_f[tr] * self.trafo_vn_kv[:, 0] * on, ka_t[tr] * self.trafo_vn_kv[:, 1] * on
        return per_f, per_t
