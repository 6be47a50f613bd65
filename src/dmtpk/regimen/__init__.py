"""Dosing: events, regimens and the event table (see :mod:`.events` and :mod:`.table`), and
regimens from mappings such as scenario-file tables (:mod:`.mapping`)."""

from .events import ROUTES, Bolus, Infusion, Inhalation, Regimen, SteadyState, as_regimen
from .mapping import EVENT_TYPES, event_from_mapping, regimen_from_mappings
from .table import EVID_DOSE, EVID_INFUSION_END, ROUTE_CODES, EventTable, ResolvedEvents

__all__ = ["Bolus", "Infusion", "Inhalation", "SteadyState", "Regimen", "as_regimen",
           "EventTable", "ResolvedEvents", "ROUTES", "ROUTE_CODES", "EVID_DOSE",
           "EVID_INFUSION_END", "EVENT_TYPES", "event_from_mapping", "regimen_from_mappings"]
