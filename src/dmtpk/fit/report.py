"""A fit's report folder: the fitted model file, the parameter table, the per-observation
table and the diagnostic figures (and for SAEM its trajectories), written all or none
(:func:`dmtpk.io.files.write_outputs`)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

__all__ = ["write_report", "report_outputs", "parameter_rows", "REPORT_FILES", "SAEM_FILE"]

#: Files of a report.
REPORT_FILES = ("model.toml", "parameters.csv", "table.csv", "diagnostics.png",
                "individuals.png", "eta.png", "vpc.png")
#: The figure a SAEM fit's report adds: its estimates at every iteration.
SAEM_FILE = "saem.png"


def parameter_rows(res) -> list:
    """(label, estimate, SE, RSE %, CI low, CI high, shrinkage %, fixed) per estimate, then
    per quantity held fixed (``fixed`` 1, no SE)."""
    rows = []
    values = list(res.estimates().items()) + list(res.fixed_values().items())
    for lab, v in values:
        lo, hi = res.ci.get(lab, (math.nan, math.nan))
        shr = res.shrinkage.get(lab[6:-1], math.nan) if lab.startswith("omega(") else math.nan
        rows.append((lab, float(v), float(res.se.get(lab, math.nan)),
                     float(res.rse.get(lab, math.nan)), float(lo), float(hi), float(shr),
                     int(lab in res.fixed)))
    return rows


def write_report(res, folder, *, vpc_replicates: int = 200, seed: int = 0,
                 force: bool = False) -> list[Path]:
    """Write :data:`REPORT_FILES` of a population fit into ``folder`` (created if needed), and
    :data:`SAEM_FILE` for a SAEM fit.

    Returns
    -------
    list of Path
    """
    from ..io.files import write_outputs
    Path(folder).mkdir(parents=True, exist_ok=True)
    return write_outputs(report_outputs(res, folder, vpc_replicates=vpc_replicates,
                                        seed=seed), force)


def report_outputs(res, folder, *, vpc_replicates: int = 200, seed: int = 0) -> list:
    """The report's files as ``(path, write)`` pairs for :func:`dmtpk.io.files.write_outputs`
    (so that a caller can write them together with other outputs, all or none)."""
    from ..io.files import csv_writer
    from ..model.toml import to_toml
    folder = Path(folder)
    text = to_toml(res.model)

    def model_file(tmp):
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write(text)

    table = res.table
    cols = [k for k in table if k != "OUTPUT"]
    rows = [list(r) for r in zip(*(np.asarray(table[k], dtype=float) for k in cols),
                                 table["OUTPUT"])]
    figures = {"diagnostics.png": res.plot("diagnostics"),
               "individuals.png": res.plot("individuals"), "eta.png": res.plot("eta"),
               "vpc.png": res.plot("vpc", n=vpc_replicates, seed=seed)}
    if res.history is not None:
        figures[SAEM_FILE] = res.plot("saem")

    def figure(fig):
        return lambda tmp: fig.savefig(tmp, dpi=120, format="png")

    outputs = [(folder / "model.toml", model_file),
               (folder / "parameters.csv",
                csv_writer(["parameter", "estimate", "se", "rse_percent", "ci_low", "ci_high",
                            "shrinkage_percent", "fixed"], parameter_rows(res))),
               (folder / "table.csv", csv_writer(cols + ["OUTPUT"], rows))]
    outputs += [(folder / name, figure(fig)) for name, fig in figures.items()]
    return outputs
