"""The household side of a run, per connection point: energy through the meter and rooftop-PV use.

The meter's net demand at each step is load - PV (after any curtailment) + the EVs' power at that connection point
(>0 charging, <0 discharging) + its home battery's (`models/battery.py`). From it, per connection point over the
run (kWh): import (net demand > 0) and export (< 0); of the PV generated, what was exported (export up to the PV of
that step: PV is counted as exported before any EV discharge, so V2G never raises PV self-consumption) and what was
used on site. Ratios, as IEA PVPS Task 1 ("Self-consumption", 2016) defines them:

- self-consumption = PV used on site / PV generated (NaN without PV);
- self-sufficiency = PV used on site / the household's consumption (load plus EV charging).

Each is also given for the same household without its EV (`_no_ev`): load - PV, with PV curtailed only
as far as the export limit alone requires. With a priced tariff (`models/tariff.py`) each also gets its
bill, in the tariff's currency: import charge, export credit, fixed charge and bill; the EV's charging
cost is the bill with it minus the bill without it; and, given the same car on the same trips charged
`uncontrolled` (`home.uncontrolled_counterfactual`), the bill with that car and the saving against it. The saving
counts energy still in the battery at the end: a strategy that ends the run with less stored than
uncontrolled charging (it waits for a cheaper night after the last day, say) has not saved what it has yet
to buy, so the difference in stored energy, grid side (over the charging efficiency), is valued at the
run's lowest import price: what shifted charging pays for it, and the least that energy stored from PV
surplus is worth.

During an outage the meter sees nothing: the caller zeroes every flow of a dark connection point.
"""
import numpy as np

from hostcap.models.battery import HomeBatteries, battery_series
from hostcap.models.meter import curtail_pv
from hostcap.models.tariff import PricedTariff, bills


def meter_energy(load_kw: np.ndarray, pv_kw: np.ndarray, ev_kw: np.ndarray, ev_charge_kw: np.ndarray,
                 dt_h: float, tariff: PricedTariff | None = None, price_per_kwh: np.ndarray | None = None,
                 battery_kw: np.ndarray | float = 0.0) -> dict[str, np.ndarray]:
    """Per connection point (arrays are steps x connection points): import, export, PV generated, PV
    exported and used on site, consumption (kWh), self-consumption and self-sufficiency; with a tariff
    (and its price per step) the bill's parts, named with the currency. `battery_kw`: the home battery's
    power behind the same meter (load sign)."""
    net = load_kw - pv_kw + ev_kw + battery_kw
    export = np.maximum(-net, 0.0)
    money = {}
    if tariff is not None:
        parts = bills(import_kwh=np.maximum(net, 0.0) * dt_h, export_kwh=export * dt_h,
                      price_per_kwh=price_per_kwh, tariff=tariff, days=len(net) * dt_h / 24.0)
        money = {f"{k}_{tariff.currency}": v for k, v in parts.items()}
    pv_exported = np.minimum(export, pv_kw).sum(axis=0) * dt_h
    pv = pv_kw.sum(axis=0) * dt_h
    used = pv - pv_exported
    consumption = (load_kw + ev_charge_kw).sum(axis=0) * dt_h
    with np.errstate(invalid="ignore", divide="ignore"):
        return {
            "import_kwh": np.maximum(net, 0.0).sum(axis=0) * dt_h,
            "export_kwh": export.sum(axis=0) * dt_h,
            "pv_kwh": pv,
            "pv_exported_kwh": pv_exported,
            "pv_used_kwh": used,
            "consumption_kwh": consumption,
            "self_consumption": np.where(pv > 0, used / pv, np.nan),
            "self_sufficiency": np.where(consumption > 0, used / consumption, np.nan),
        } | money


def customer_energy(*, load_kw: np.ndarray, pv_kw: np.ndarray, pv_curtailed_kw: np.ndarray,
                    ev_kw: np.ndarray, ev_charge_kw: np.ndarray, export_limit_kw: float | None,
                    dt_h: float, tariff: PricedTariff | None = None,
                    price_per_kwh: np.ndarray | None = None,
                    ev_uncontrolled_kw: np.ndarray | None = None,
                    stored_gain_kwh: np.ndarray | None = None, battery_kw: np.ndarray | float = 0.0,
                    batteries: HomeBatteries | None = None) -> dict[str, np.ndarray]:
    """`meter_energy` with the run's EVs and, suffixed `_no_ev`, without them; with a tariff also the EV's
    charging cost and, given `ev_uncontrolled_kw` (steps x connection points) and `stored_gain_kwh` (per
    connection point: energy stored at the end with the run's strategy minus with uncontrolled charging,
    grid side), the bill with the EVs charged uncontrolled and the saving against it. With home
    `batteries`, `battery_kw` is their power in the run; in each counterfactual they work against that
    case's meter (`models/battery.py`), as in the run before PV is curtailed."""
    money = dict(tariff=tariff, price_per_kwh=price_per_kwh)
    with_ev = meter_energy(load_kw, pv_kw - pv_curtailed_kw, ev_kw, ev_charge_kw, dt_h, **money,
                           battery_kw=battery_kw)

    def beside(ev: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(PV curtailed only as far as the export limit requires, battery power) beside EV power `ev`."""
        bat = 0.0
        if batteries is not None and batteries.present:
            bat = battery_series(meter_kw=load_kw - pv_kw + ev, pv_kw=pv_kw, bat=batteries, dt_h=dt_h)[0]
        pv = pv_kw if export_limit_kw is None else pv_kw - curtail_pv(load_kw - pv_kw + ev + bat, pv_kw,
                                                                     export_limit_kw)
        return pv, bat

    zero = np.zeros_like(load_kw)
    pv, bat = beside(zero)
    without = meter_energy(load_kw, pv, zero, zero, dt_h, **money, battery_kw=bat)
    cur = f"_{tariff.currency}" if tariff is not None else None
    no_ev = {(k[:-len(cur)] + "_no_ev" + cur if cur and k.endswith(cur) else k + "_no_ev"): v
             for k, v in without.items()}  # bill_no_ev_EUR: the currency stays last
    out = with_ev | no_ev
    if cur:
        out[f"ev_charging_cost{cur}"] = out[f"bill{cur}"] - out[f"bill_no_ev{cur}"]
        if ev_uncontrolled_kw is not None:
            unc = ev_uncontrolled_kw
            pv, bat = beside(unc)
            bill = meter_energy(load_kw, pv, unc, np.maximum(unc, 0.0), dt_h, **money, battery_kw=bat)[f"bill{cur}"]
            out[f"bill_uncontrolled{cur}"] = bill
            out[f"saving_vs_uncontrolled{cur}"] = bill - out[f"bill{cur}"] + stored_gain_kwh * price_per_kwh.min()
    return out
