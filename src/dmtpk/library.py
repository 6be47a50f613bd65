"""The model library: literature models shipped as TOML data files.

``load_model(name_or_path)`` reads a shipped model by name (``"eckernas2022"``) or any TOML file
by path. ``list_models()`` lists the shipped names. Model files are data: nothing in them is
executed. Loading a model registers its sources for :func:`dmtpk.cite` and warns
(:class:`~dmtpk.model.spec.NotFittedWarning`, once per model and route) about routes whose
parameters are assumptions rather than fits to data.
"""

from __future__ import annotations

from functools import lru_cache
from importlib import resources
from pathlib import Path

from . import citations
from .errors import ModelFileError, ValidationError
from .io.text import FileReadError, read_toml
from .model.spec import Model, model_from_dict

__all__ = ["load_model", "list_models", "models_dir"]


def models_dir() -> Path:
    """Folder of the shipped model files (inside the installed package, or the source tree)."""
    packaged = resources.files("dmtpk") / "models"
    if packaged.is_dir():
        return Path(str(packaged))
    source_tree = Path(__file__).resolve().parents[2] / "models"
    return source_tree


def list_models() -> list[str]:
    """Names of the shipped models, sorted."""
    return sorted(p.stem for p in models_dir().glob("*.toml"))


def load_model(name_or_path) -> Model:
    """Load a model by library name or from a TOML file.

    Parameters
    ----------
    name_or_path : str or os.PathLike or Model
        A name from :func:`list_models`, or a path to a ``.toml`` file. A Model is returned as is.

    Raises
    ------
    ValidationError
        Unknown name.
    ModelFileError
        A folder, an unreadable file, a file that is not UTF-8 or valid TOML, nested too
        deeply, or malformed (names the file and the key, or the line).

    Warns
    -----
    NotFittedWarning
        Once per process, model and route, for a route whose parameters are assumptions rather
        than fits to data (``[validity.<route>] fitted = false``).
    """
    if isinstance(name_or_path, Model):
        citations.register_model(name_or_path)
        return name_or_path
    if not isinstance(name_or_path, (str, Path)):
        raise ValidationError("model", f"expected a model name, a path or a Model, got "
                                       f"{type(name_or_path).__name__}")
    text = str(name_or_path)
    path = Path(text)
    try:
        exists = path.exists()
        if path.suffix != ".toml" and not exists:
            candidate = models_dir() / f"{text}.toml"
            if not candidate.is_file():
                raise ValidationError("model", f"unknown model {text!r}; shipped models are "
                                               f"{list_models()}, or give a path to a .toml "
                                               "file")
            path, exists = candidate, True
        if path.is_dir():
            raise ModelFileError(text, "", "is a folder, not a model file (.toml)")
        resolved, mtime = str(path.resolve()), path.stat().st_mtime_ns if exists else 0
    except (OSError, ValueError) as exc:
        if isinstance(exc, (ValidationError, ModelFileError)):
            raise
        raise ValidationError("model", f"{text[:200]!r} is not a usable model name or path "
                                       f"({getattr(exc, 'strerror', None) or exc})") from None
    model = _load_file(resolved, mtime)
    citations.register_model(model)
    model.warn_not_fitted()
    return model


@lru_cache(maxsize=64)
def _load_file(path: str, mtime: int) -> Model:
    try:
        raw = read_toml(path)
    except FileReadError as exc:
        raise ModelFileError(path, exc.where, exc.message) from None
    return model_from_dict(raw, path)
