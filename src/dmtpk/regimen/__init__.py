"""Dosing: events, regimens and the event table (see :mod:`.events` and :mod:`.table`)."""

from .events import ROUTES, Bolus, Infusion, Inhalation, Regimen, as_regimen
from .table import EVID_DOSE, EVID_INFUSION_END, ROUTE_CODES, EventTable, ResolvedEvents

__all__ = ["Bolus", "Infusion", "Inhalation", "Regimen", "as_regimen", "EventTable",
           "ResolvedEvents", "ROUTES", "ROUTE_CODES", "EVID_DOSE", "EVID_INFUSION_END"]
