"""``dmtpk fit MODEL DATA.csv``: a model fitted to a NONMEM-style dataset."""

from __future__ import annotations

from pathlib import Path

from ..errors import ValidationError
from ..io.files import check_outputs
from ..library import load_model
from ._common import option_value, write_files

__all__ = ["add_parser"]


def _names_or_values(text, option):
    """``CL,V1`` -> list; ``CL=0.1,V1=0.2`` -> dict of floats."""
    if text is None:
        return None
    items = [v.strip() for v in text.split(",") if v.strip()]
    if not items:
        raise ValidationError(option, "names no parameter")
    if all("=" not in v for v in items):
        return items
    out = {}
    for v in items:
        name, sep, value = v.partition("=")
        if not sep:
            raise ValidationError(option, f"mixes names and name=value: {v!r}")
        try:
            out[name.strip()] = float(value)
        except ValueError:
            raise ValidationError(option, f"{name.strip()}: {value!r} is not a number") \
                from None
    return out


def _cmd_fit(args) -> int:
    from ..fit import fit
    from ..fit.report import report_outputs
    from ..io import read_nonmem
    from ..model.toml import to_toml
    outputs = {}
    if args.out:
        outputs["--out"] = Path(args.out)
    report = Path(args.report) if args.report else None
    if report is not None:
        from ..fit.report import REPORT_FILES, SAEM_FILE
        if report.exists() and not report.is_dir():
            raise ValidationError("--report", f"{report} is a file, not a folder")
        if report.is_dir():  # every file the report will write, checked before the fit
            files = REPORT_FILES + ((SAEM_FILE,) if args.method == "saem" else ())
            outputs.update({f"--report ({f})": report / f for f in files})
        elif not report.parent.is_dir() and str(report.parent):
            raise ValidationError("--report", f"the folder {report.parent} does not exist")
    args.requested = list(outputs.values())
    if report is None or report.is_dir():
        check_outputs(outputs, args.force)
    if args.method in ("ml", "map") and report is not None:
        raise ValidationError("--report", "a report is for population fits (focei, saem)")
    if args.method == "saem" and args.seed is None:
        raise ValidationError("--seed", "SAEM draws random numbers: give --seed")
    model = load_model(args.model)
    data = read_nonmem(args.data, time_unit=args.time_unit, amount_unit=args.amount_unit,
                       concentration_unit=args.concentration_unit,
                       drop=[v.strip() for v in args.drop.split(",")] if args.drop else None,
                       ignore=args.ignore)
    estimate = _names_or_values(args.estimate, "--estimate")
    if isinstance(estimate, dict):
        raise ValidationError("--estimate", "takes names (CL,V1); initial values go in the "
                                            "model file")
    omega = _names_or_values(args.omega, "--omega")
    lloq = args.lloq
    if lloq is not None:
        try:
            lloq = float(lloq)
        except ValueError:
            pass  # a column name
    kw = {}
    if args.iterations == "auto":
        kw["iterations"] = "auto"
    elif args.iterations is not None:
        try:
            k1, k2 = (int(v) for v in args.iterations.split(","))
        except ValueError:
            raise ValidationError("--iterations", f"expected two whole numbers K1,K2, got "
                                                  f"{args.iterations!r}") from None
        kw["iterations"] = (k1, k2)
    res = fit(model, data, estimate=estimate, omega=omega, method=args.method,
              subject=option_value(args.subject) if args.subject is not None else None,
              seed=args.seed, blq=args.blq, lloq=lloq, progress=False,
              covariance=args.covariance, max_iter=args.max_iter, **kw)
    print(res.summary())
    writers = []
    if args.out:
        text = to_toml(res.model)

        def model_file(tmp, text=text):
            with open(tmp, "w", encoding="utf-8") as fh:
                fh.write(text)
        writers.append(("--out", Path(args.out), model_file))
    if report is not None:
        report.mkdir(exist_ok=True)
        writers += [(f"--report {report}", path, w)
                    for path, w in report_outputs(res, report, seed=args.seed or 0)]
    write_files(args, writers)
    return 0


def add_parser(sub) -> None:
    f = sub.add_parser("fit", help="fit a model to a NONMEM-style dataset; print the parameter "
                                   "table (estimate, SE, RSE %%, shrinkage) and the OFV")
    f.add_argument("model", metavar="MODEL", help="model name or .toml path")
    f.add_argument("data", metavar="DATA.csv", help="NONMEM-style dataset")
    f.add_argument("--time-unit", required=True, help="unit of TIME (min, h)")
    f.add_argument("--amount-unit", required=True, help="unit of AMT (mg, ug)")
    f.add_argument("--concentration-unit", default="ng/mL",
                   help="unit of concentration DV (default ng/mL)")
    f.add_argument("--estimate", help="typical values to estimate: CL,V1,... (default those "
                                      "with a random effect)")
    f.add_argument("--omega", help="random effects: CL,V1 or CL=0.1,V1=0.1 (initial "
                                   "variances; default the model's)")
    f.add_argument("--method", default="focei", choices=("focei", "saem", "ml", "map"))
    f.add_argument("--seed", type=int, help="random seed (SAEM)")
    f.add_argument("--max-iter", type=int, default=200,
                   help="FOCE-I outer iterations (0: the objective and diagnostics at the "
                        "initial estimates, as NONMEM's MAXEVAL=0)")
    f.add_argument("--iterations", help="SAEM exploration and smoothing iterations: K1,K2, "
                                        "or auto (the default: the exploration extended "
                                        "until stationary, then 100 of smoothing)")
    f.add_argument("--subject", help="one subject's ID (ml, map)")
    f.add_argument("--covariance", choices=("sandwich", "r", "s", "none", "observed",
                                            "expected"),
                   help="covariance step (default sandwich; observed for ml/map)")
    f.add_argument("--drop", help="dataset columns to drop, as NONMEM's DROP: SS,II")
    f.add_argument("--ignore", help="records to ignore, as NONMEM's IGNORE: 'SD == 0'")
    f.add_argument("--blq", help="column flagging observations below the LLOQ (M3)")
    f.add_argument("--lloq", help="the LLOQ: a column or a value in the data's unit")
    f.add_argument("--out", help="write the fitted model here (.toml)")
    f.add_argument("--report", help="write tables and diagnostic figures into this folder")
    f.add_argument("--force", action="store_true", help="overwrite existing outputs")
    f.set_defaults(func=_cmd_fit)
