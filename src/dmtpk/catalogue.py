"""The metric catalogue: the one list of the metrics' names, units and labels.

Single-subject results (:mod:`dmtpk.metrics`, :class:`~dmtpk.Result`), population results,
scenarios, the command line and the plots all read it. It imports nothing, so any layer can use
it: the population package sits left of :mod:`dmtpk.metrics` in the import order and needs the
names too.

Keys: an exposure metric is keyed by its name (``"cmax"``), an effect metric by endpoint and
name (``"intensity.onset"``).
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType

__all__ = ["MetricInfo", "CATALOGUE", "METRICS", "EXPOSURE_METRICS",
           "POPULATION_EXPOSURE_METRICS", "EFFECT_METRICS", "split_metric_key", "metric_label",
           "metric_unit"]


@dataclass(frozen=True)
class MetricInfo:
    """One metric of the catalogue.

    Attributes
    ----------
    key : str
        The metric's name (``"cmax"``, ``"onset"``).
    kind : {"exposure", "effect"}
        A field of :class:`~dmtpk.metrics.ExposureMetrics` or of
        :class:`~dmtpk.metrics.EffectMetrics`.
    unit : str or None
        Unit of the values; None for a value in the endpoint's own unit (the peak response).
    label : str
        Readable name in printed tables and axis labels.
    population : bool
        Computed for every subject by :func:`~dmtpk.simulate_population` (the terminal
        half-life is not).
    threshold : bool
        Defined by the endpoint's threshold (onset, offset, duration); tables and plots show
        the threshold with it.
    """

    key: str
    kind: str
    unit: str | None
    label: str
    population: bool
    threshold: bool = False


#: The metrics, exposure first. Exposure and effect metrics are each in the order of the fields
#: of ExposureMetrics and EffectMetrics and of the columns the population kernels write
#: (``dmtpk._kernels.metrics.grid_metrics``); do not reorder.
CATALOGUE = (
    MetricInfo("cmax", "exposure", "ng/mL", "Cmax", population=True),
    MetricInfo("tmax", "exposure", "min", "Tmax", population=True),
    MetricInfo("auc", "exposure", "ng·min/mL", "AUC", population=True),
    MetricInfo("half_life", "exposure", "min", "t1/2 terminal", population=False),
    MetricInfo("onset", "effect", "min", "onset", population=True, threshold=True),
    MetricInfo("peak", "effect", None, "peak", population=True),
    MetricInfo("time_to_peak", "effect", "min", "time to peak", population=True),
    MetricInfo("offset", "effect", "min", "offset", population=True, threshold=True),
    MetricInfo("duration", "effect", "min", "duration", population=True, threshold=True),
)

#: The catalogue by metric name.
METRICS = MappingProxyType({m.key: m for m in CATALOGUE})
#: Exposure metrics of a single subject (ExposureMetrics), in order.
EXPOSURE_METRICS = tuple(m.key for m in CATALOGUE if m.kind == "exposure")
#: Exposure metrics of every subject of a population, in the population kernels' column order.
POPULATION_EXPOSURE_METRICS = tuple(m.key for m in CATALOGUE
                                    if m.kind == "exposure" and m.population)
#: Effect metrics of each endpoint (EffectMetrics, population kernels), in order.
EFFECT_METRICS = tuple(m.key for m in CATALOGUE if m.kind == "effect")


def split_metric_key(key: str) -> tuple[str | None, str]:
    """Split a metric key into (endpoint, metric name).

    Parameters
    ----------
    key : str
        ``"<name>"`` or ``"<endpoint>.<name>"``.

    Returns
    -------
    tuple of (str or None, str)
        The endpoint (None for an exposure metric) and the metric's name.

    Examples
    --------
    >>> split_metric_key("intensity.onset")
    ('intensity', 'onset')
    >>> split_metric_key("cmax")
    (None, 'cmax')
    """
    endpoint, _, name = key.rpartition(".")
    return (endpoint or None), name


def metric_label(key: str) -> str:
    """Readable name of a metric key.

    Parameters
    ----------
    key : str
        ``"<name>"`` or ``"<endpoint>.<name>"``.

    Returns
    -------
    str
        The catalogue's label, after the endpoint's name for an effect metric.

    Raises
    ------
    KeyError
        The metric's name is not in the catalogue.

    Examples
    --------
    >>> metric_label("cmax")
    'Cmax'
    >>> metric_label("intensity.time_to_peak")
    'intensity time to peak'
    """
    endpoint, name = split_metric_key(key)
    label = METRICS[name].label
    return label if endpoint is None else f"{endpoint} {label}"


def metric_unit(key: str, model=None) -> str:
    """Unit of a metric key.

    Parameters
    ----------
    key : str
        ``"<name>"`` or ``"<endpoint>.<name>"``.
    model : Model, optional
        Gives the unit of an endpoint's peak response (the endpoint's ``unit``). Without it, or
        when the endpoint has no unit, that unit is ``""``.

    Returns
    -------
    str
        The unit, or ``""`` (also for a name not in the catalogue).

    Examples
    --------
    >>> metric_unit("auc")
    'ng·min/mL'
    >>> metric_unit("intensity.onset")
    'min'
    """
    endpoint, name = split_metric_key(key)
    info = METRICS.get(name)
    if info is None:
        return ""
    if info.unit is None:
        if endpoint is None or model is None:
            return ""
        return model.endpoint(endpoint).unit or ""
    return info.unit
