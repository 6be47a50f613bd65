"""dmtpk: pharmacokinetic/pharmacodynamic simulation of N,N-dimethyltryptamine (DMT).

Quick start::

    import dmtpk
    model = dmtpk.load_model("eckernas2022")
    result = dmtpk.simulate(model, dmtpk.Bolus("20 mg", salt="fumarate"), range(0, 61))
    print(result.metrics())
    result.plot().savefig("dmt.png")

Bare times are minutes and bare doses mg of DMT base; strings and pint Quantities carry units.
"""

from .citations import cite
from .errors import DmtpkError, ModelFileError, SolverError, UnitError, ValidationError
from .dataset import DatasetResult, simulate_dataset
from .design import DesignResult, design
from .explorer import explore
from .fit import FitResult, fit
from .io import DatasetError, NonmemDataset, read_nonmem, write_nonmem
from .library import list_models, load_model
from .model.spec import Model
from .population import PopulationResult, simulate_population
from .regimen import Bolus, EventTable, Infusion, Inhalation, Regimen, SteadyState
from .results import Result
from .scenario import load_scenario, run_scenario
from .simulate import simulate
from .tci import TciResult, TciWarning, tci
from .units import ureg

__version__ = "0.1.0"

__all__ = [
    "load_model", "list_models", "Model", "cite",
    "Bolus", "Infusion", "Inhalation", "SteadyState", "Regimen", "EventTable",
    "simulate", "Result", "simulate_population", "PopulationResult",
    "load_scenario", "run_scenario",
    "read_nonmem", "write_nonmem", "NonmemDataset", "simulate_dataset", "DatasetResult",
    "fit", "FitResult", "tci", "TciResult", "TciWarning", "design", "DesignResult", "explore",
    "DatasetError",
    "ureg",
    "DmtpkError", "ValidationError", "UnitError", "ModelFileError", "SolverError",
]
