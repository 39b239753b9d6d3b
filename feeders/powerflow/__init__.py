"""The feeder's power flow for S sets of net demand per bus at once: balanced (`balanced.py`, positive
sequence) and three-phase (`three_phase.py`), each with pandapower as the reference and a fast exact solver
(`kernels.py`: the compiled iterations), and `make_solver()` that picks one."""
from hostcap.feeders.powerflow.balanced import FastSolver, FlowResult, PandapowerSolver, empty_result
from hostcap.feeders.powerflow.three_phase import FastSolver3ph, Flow3Result, PandapowerSolver3ph, empty_result_3ph
from hostcap.models.errors import InputError

SOLVERS = ("fast", "pandapower")
__all__ = ["SOLVERS", "make_solver", "FastSolver", "PandapowerSolver", "FastSolver3ph", "PandapowerSolver3ph",
           "FlowResult", "Flow3Result", "empty_result", "empty_result_3ph"]

_FAST: dict[tuple, object] = {}  # (net key, unbalanced) -> a solver built for it, never stepped
FAST_CACHE = 4


def make_solver(name: str, net, net_key: str | None = None, *, unbalanced: bool = False):
    """A solver for the net: balanced (`balanced.py`) or three-phase (`three_phase.py`). With `net_key`
    (what identifies the net: the feeder, its MV voltage and the shared net object's identity) the fast
    solver's set-up (an injection copy of the net, a power flow and the factorisation, about 0.1 s on the
    default feeder, a third of a week-long run; 0.5 s three-phase) is done once per process, and each call
    gets a fresh copy that starts from the same voltages, so a run's numbers do not depend on the runs
    before it."""
    reference, fast = (PandapowerSolver3ph, FastSolver3ph) if unbalanced else (PandapowerSolver, FastSolver)
    if name == "pandapower":
        return reference(net)
    if name != "fast":
        raise InputError(f"solver: unknown '{name}', choose one of {', '.join(SOLVERS)}")
    if net_key is None:
        return fast(net)
    key = (net_key, unbalanced)
    if key not in _FAST:
        if len(_FAST) >= FAST_CACHE:
            _FAST.pop(next(iter(_FAST)))
        _FAST[key] = fast(net)
    return _FAST[key].fresh()
