"""``simulate_dataset``: predictions on a NONMEM-style dataset's own records.

Compartments are numbered as NONMEM's ADVANs number them: in the order of the model's states
(:attr:`~dmtpk.model.compiled.CompiledModel.state_names`), from 1. For a model with the inhaled
route that is 1 = absorption depot, 2 = central, 3 = first peripheral, ...; without it 1 =
central. Doses may go into any compartment that holds an amount (not an effect compartment or a
mass-balance accumulator); a dose with CMT missing or 0 goes into compartment 1.

What an observation record observes: with a ``DVID`` column, ``outputs`` maps each DVID value to
``"concentration"`` (plasma parent), ``"metabolite"`` or an endpoint's name (default: 1 plasma
concentration, 2, 3, ... the model's endpoints in order). Without one, the record's ``CMT``
decides: missing, 0 or the central compartment, plasma concentration; the metabolite
compartment, the metabolite's concentration; an endpoint's effect compartment, that endpoint's
response. Plasma concentrations are in the dataset's concentration unit; responses in their
endpoint's unit.

Bioavailability, lag time and modelled infusion rate or duration of doses into compartment
``n`` are ``F<n>``, ``ALAG<n>``, ``R<n>``, ``D<n>`` as in a NONMEM ``$PK``. By default
``F`` is 1 and ``ALAG`` 0, except for the absorption depot of an inhaled model, which takes
``F_INH`` and ``TLAG_INH``; ``R`` and ``D`` are undefined (a RATE of -1 or -2 is then rejected).
``record_values`` sets any of them from a dataset column (read on each record, in the dataset's
units: time unit for ``ALAG`` and ``D``, amount per time unit for ``R``) or to a constant
(a quantity or a string with its unit; a bare number is canonical: min, mg/min).

Model covariates (``[covariates]`` of the model file: power, linear, categorical) are taken
from the dataset column of the same name (case aside), in the unit the model uses (kg for ``WT``). Parameters are
piecewise constant between records, as in PREDPP: the advance to a record uses the values for
that interval, which with the default ``"nocb"`` mode are the record's own (next observation
carried backward), with ``"locf"`` those of the record before, and with ``"linear"`` the mean of
the linear interpolant over the interval (the average of the two records' values).
"""

from .prepare import PreparedDataset, prepare_dataset
from .simulate import (DatasetResult, compartment_numbers, observations, simulate_dataset,
                       subject_event_table, subject_regimen)

__all__ = ["simulate_dataset", "prepare_dataset", "PreparedDataset", "DatasetResult",
           "compartment_numbers", "subject_regimen", "subject_event_table", "observations"]
