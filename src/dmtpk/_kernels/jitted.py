"""Compiled twins of the pure functions, made once for every kernel that calls them.

The functions of :mod:`~dmtpk._kernels.system`, :mod:`~dmtpk._kernels.expm`,
:mod:`~dmtpk._kernels.elimination`, :mod:`~dmtpk._kernels.pd` and
:mod:`~dmtpk._kernels.dosing` import no Numba and run
uncompiled in the single-subject engines; the kernels call these twins of them instead. One
dispatcher per function, so a process that uses several kernels compiles each once.
"""

from __future__ import annotations

from . import dosing as _dosing
from . import elimination as _elimination
from . import expm as _expm
from . import pd as _pd
from . import system as _system
from .config import jit, jit_inline, jit_vector_inline

#: :func:`dmtpk._kernels.system.fill_system`.
fill_system = jit(_system.fill_system)
#: :func:`dmtpk._kernels.expm.expm`.
expm = jit(_expm.expm)
#: :func:`dmtpk._kernels.elimination.mm_flux`, inlined.
mm_flux = jit_inline(_elimination.mm_flux)
#: :func:`dmtpk._kernels.elimination.mm_dflux_dc`, inlined.
mm_dflux_dc = jit_inline(_elimination.mm_dflux_dc)
#: :func:`dmtpk._kernels.elimination.mm_flux_amount`, inlined into the lanes' vectorised loops.
mm_flux_amount = jit_vector_inline(_elimination.mm_flux_amount)
#: :func:`dmtpk._kernels.pd.pd_response` on one concentration, inlined.
pd_response = jit_inline(_pd.pd_response)
#: :func:`dmtpk._kernels.dosing.resolve_dose`, inlined.
resolve_dose = jit_inline(_dosing.resolve_dose)
#: :func:`dmtpk._kernels.dosing.table_record`, inlined.
table_record = jit_inline(_dosing.table_record)
