"""Population simulation: variability, covariates, residual error, kernels, summaries.

Importing this package does not import Numba; the kernels are imported when a population is
simulated.
"""

from .result import PopulationResult
from .runner import simulate_population

__all__ = ["simulate_population", "PopulationResult"]
