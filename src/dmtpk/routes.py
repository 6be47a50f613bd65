"""Input routes: the names a model may declare and a dose event carries, how messages label
them, the kinds of administration on each, and the state each route doses.

This module imports nothing of dmtpk, so the model (which declares routes) and the regimen
(whose events name one) both read it without importing each other.

Examples
--------
>>> from dmtpk.routes import ROUTES, ROUTE_LABELS, ROUTE_STATES
>>> ROUTES
('iv', 'inhaled')
>>> ROUTE_LABELS["iv"], ROUTE_STATES["iv"], ROUTE_STATES["inhaled"]
('IV', 'central', 'depot')
"""

from __future__ import annotations

from types import MappingProxyType

__all__ = ["ROUTES", "ROUTE_LABELS", "ROUTE_STATES", "ADMINISTRATIONS"]

#: Routes a model may declare (``[model] routes``) and a dose event may carry (``event.route``).
ROUTES = ("iv", "inhaled")

#: How a route is named in messages and reports.
ROUTE_LABELS = MappingProxyType({"iv": "IV", "inhaled": "inhaled"})

#: The state a route's doses enter: IV doses the central compartment, an inhaled dose the
#: absorption depot (whose first-order absorption feeds the central compartment).
ROUTE_STATES = MappingProxyType({"iv": "central", "inhaled": "depot"})

#: Kinds of administration on each route (lower-case event type names), as a model file's
#: ``[validity.<route>] administration`` lists them.
ADMINISTRATIONS = MappingProxyType({"iv": ("bolus", "infusion"), "inhaled": ("inhalation",)})

assert set(ROUTE_LABELS) == set(ROUTE_STATES) == set(ADMINISTRATIONS) == set(ROUTES)
