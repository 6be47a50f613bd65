"""Models: specification (:mod:`.spec`) and compiled form (:mod:`.compiled`)."""

from .compiled import CompiledModel, compile_model
from .spec import Endpoint, Metabolite, Model, Parameter, model_from_dict

__all__ = ["Model", "Parameter", "Endpoint", "Metabolite", "CompiledModel", "compile_model",
           "model_from_dict"]
