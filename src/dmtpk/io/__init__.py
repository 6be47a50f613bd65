"""Data in and out: NONMEM-style datasets (:mod:`dmtpk.io.nonmem`). Reading and writing only:
simulation on a dataset's records is :func:`dmtpk.simulate_dataset` (:mod:`dmtpk.dataset`)."""

from .nonmem import (COVARIATE_MODES, STANDARD_ITEMS, DatasetError, NonmemDataset,
                     dataset_from_records, read_nonmem, write_nonmem)

__all__ = ["read_nonmem", "write_nonmem", "dataset_from_records", "NonmemDataset",
           "DatasetError", "STANDARD_ITEMS", "COVARIATE_MODES"]
