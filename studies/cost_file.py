"""A reinforcement cost file (`studies/costs/*.yaml`), read and checked here into the planner's `Costs`
(`models/reinforcement.py`). A bad file is refused with one line naming the file and field; a price that looks
like EUR where kEUR is asked for is refused as a wrong unit."""
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from hostcap.models.errors import InputError
from hostcap.studies.yaml_input import load_yaml

if TYPE_CHECKING:
    from hostcap.models.reinforcement import Costs

SHIPPED = Path(__file__).parent / "costs" / "de_dena.yaml"
MAX_KEUR = 5000.0  # no LV cable costs 5 million EUR per km, nor an MV/LV transformer 5 million EUR: EUR, not kEUR


def _keur(v: float) -> float:
    if v > MAX_KEUR:
        raise ValueError(f"{v:g} is in kEUR? it looks like EUR (at most {MAX_KEUR:g} kEUR)")
    return v


class ByDensity(BaseModel):
    model_config = ConfigDict(extra="forbid")
    rural: float = Field(gt=0)
    urban: float = Field(gt=0)

    @field_validator("rural", "urban")
    @classmethod
    def _in_keur(cls, v: float) -> float:
        return _keur(v)


class CostFile(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)
    name: str
    currency: Literal["EUR"]
    price_basis: str = Field("", max_length=200, description="Where the prices come from and their year.")
    lv_cable_keur_per_km: ByDensity
    mv_lv_transformer_keur: float = Field(gt=0)
    standard_cable: str = "NAYY 4x150 SE"
    largest_transformer_kva: Literal[250, 400, 630] = 630

    @field_validator("mv_lv_transformer_keur")
    @classmethod
    def _in_keur(cls, v: float) -> float:
        return _keur(v)

    @field_validator("standard_cable")
    @classmethod
    def _known(cls, v: str) -> str:
        import pandapower as pp  # here, not at the top: a study's reading (each Snakemake start) would pay it

        if v not in pp.available_std_types(pp.create_empty_network(), "line").index:
            raise ValueError(f"'{v}' is not a pandapower standard line type")
        return v


def load_cost_file(path: str | Path = SHIPPED) -> CostFile:
    """A cost file, checked (one line naming the file and field if bad)."""
    try:
        data = load_yaml(Path(path), "cost file")
    except InputError as exc:
        raise InputError(f"costs: {exc}") from None
    try:
        return CostFile.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        field = ".".join(str(x) for x in err["loc"])
        raise InputError(f"costs: {path}: {field}: {err['msg'].removeprefix('Value error, ')}") from None


def load_costs(path: str | Path = SHIPPED, density: Literal["rural", "urban"] = "rural") -> "Costs":
    """The planner's costs from a cost file, the cable's for the feeder's population density."""
    from hostcap.models.reinforcement import Costs  # here: the planner's module imports pandapower

    f = load_cost_file(path)
    if density not in ("rural", "urban"):
        raise InputError(f"costs: density: {density!r} is neither rural nor urban")
    return Costs(lv_cable_keur_per_km=getattr(f.lv_cable_keur_per_km, density),
                 mv_lv_transformer_keur=f.mv_lv_transformer_keur, standard_cable=f.standard_cable,
                 largest_transformer_kva=float(f.largest_transformer_kva))
