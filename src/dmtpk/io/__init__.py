"""Data in and out: NONMEM-style datasets (:mod:`dmtpk.io.nonmem`) and simulation on their
records (:func:`simulate_dataset`)."""

from .nonmem import (COVARIATE_MODES, STANDARD_ITEMS, DatasetError, NonmemDataset,
                     dataset_from_records, read_nonmem, write_nonmem)
from .simulate import (DatasetResult, compartment_numbers, observations, simulate_dataset,
                       subject_event_table, subject_regimen)

__all__ = ["read_nonmem", "write_nonmem", "dataset_from_records", "NonmemDataset",
           "DatasetError", "simulate_dataset", "DatasetResult", "compartment_numbers",
           "subject_regimen", "subject_event_table", "observations",
           "STANDARD_ITEMS", "COVARIATE_MODES"]
