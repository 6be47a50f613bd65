"""The explorer's page: Panel widgets and Bokeh figures over :mod:`dmtpk.explorer.compute`.

One :class:`Explorer` is one page (or one notebook widget): its controls, the figures (typical
subject's plasma and effect-site concentration, each endpoint with its threshold and the time
beyond it shaded; with the population switch on, 5-95th percentile bands and the distribution of
the effect's duration) and the metrics table. Every control change recomputes the view and
replaces the figures' data (not the figures), so the page answers as fast as dmtpk simulates. A
bad value shows dmtpk's message next to its control and leaves the last good view in place.
"""

from __future__ import annotations

import io
import math
import socket
import time
import warnings
from dataclasses import fields

import numpy as np

from ..errors import DmtpkError, ValidationError
from ..library import list_models, load_model
from ..model.spec import Model, ModelValidityWarning
from .compute import DOSE_UNITS, ROUTES, Controls, explore_view, figure_png, scenario_text

__all__ = ["Explorer", "require_panel", "serve"]

_BLUE, _ORANGE, _BAND = "#1f77b4", "#ff7f0e", "#9ecae1"

#: Controls with an error line under them (the rest report in the line at the top).
_FIELDS = ("model", "route", "dose", "rate", "duration", "infusion_dose", "count", "interval",
           "weight", "threshold", "until", "n", "seed", "for_at_least")


def require_panel() -> None:
    """Raise a dmtpk error saying how to install the explorer when Panel is missing."""
    try:
        import bokeh  # noqa: F401
        import panel  # noqa: F401
    except ImportError:
        raise ValidationError("explore", 'the explorer needs Panel: pip install "dmtpk[explore]"'
                              ) from None


def _fmt(x, digits: int = 4) -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "-"
    return f"{x:.{digits}g}"


class Explorer:
    """The explorer's controls and views (see :func:`dmtpk.explore`).

    Attributes
    ----------
    widgets : dict
        The control widgets by control name (``"dose"``, ``"route"``, ...).
    view : View or None
        What is shown (the last good set of controls).
    errors : dict
        The message shown next to each control ("" when none).
    last_update_ms : float
        Time of the last recomputation and redraw on the server side (ms).
    layout : panel.layout.Panel
        The page.
    """

    def __init__(self, model="eckernas2022", **initial):
        import panel as pn
        self._pn = pn
        unknown = sorted(set(initial) - {f.name for f in fields(Controls)})
        if unknown:
            raise ValidationError(unknown[0], f"is not a control of the explorer; the controls: "
                                              f"{[f.name for f in fields(Controls)][1:]}")
        # the model list: the library's models by name, and the one given (a file's path, or
        # a Model built in Python, shown by its name)
        if isinstance(model, Model):
            first = model
        else:
            first = str(model)
            load_model(first)  # an unknown name or a bad file is an error before the page is built
        options = {name: name for name in list_models()}
        if isinstance(first, Model) or first not in options:
            options = {(first.name if isinstance(first, Model) else first): first, **options}
        c = Controls(model=first, **initial)
        w = {}
        w["model"] = pn.widgets.Select(label="model", options=options, value=first,
                                       css_classes=["dmtpk-model"])
        w["route"] = pn.widgets.Select(label="route", options={}, css_classes=["dmtpk-route"])
        w["dose"] = pn.widgets.EditableFloatSlider(label="dose (bolus / each inhalation)",
                                                   start=0.0, end=100.0, step=0.5,
                                                   value=float(c.dose), css_classes=["dmtpk-dose"])
        w["dose_unit"] = pn.widgets.Select(label="dose unit", options=list(DOSE_UNITS),
                                           value=c.dose_unit, css_classes=["dmtpk-dose-unit"])
        w["salt"] = pn.widgets.Select(label="stated as", options=["base", "fumarate",
                                                                 "hemifumarate"],
                                      value=c.salt, css_classes=["dmtpk-salt"])
        w["rate"] = pn.widgets.EditableFloatSlider(label="infusion rate (per min)", start=0.0,
                                                   end=10.0, step=0.05, value=float(c.rate),
                                                   css_classes=["dmtpk-rate"])
        w["duration"] = pn.widgets.EditableFloatSlider(label="infusion duration (min)",
                                                       start=1.0, end=240.0, step=1.0,
                                                       value=float(c.duration),
                                                       css_classes=["dmtpk-duration"])
        w["infusion_dose"] = pn.widgets.TextInput(
            label="infusion amount (optional; must equal rate x duration)", value="",
            placeholder="e.g. 42", css_classes=["dmtpk-infusion-dose"])
        w["count"] = pn.widgets.EditableIntSlider(label="inhalations", start=1, end=10,
                                                  value=int(c.count),
                                                  css_classes=["dmtpk-count"])
        w["interval"] = pn.widgets.EditableFloatSlider(label="interval (min)", start=1.0,
                                                       end=60.0, step=0.5,
                                                       value=float(c.interval),
                                                       css_classes=["dmtpk-interval"])
        w["weight"] = pn.widgets.EditableFloatSlider(label="body weight (kg, per-kg doses)",
                                                     start=30.0, end=150.0, step=1.0,
                                                     value=float(c.weight),
                                                     css_classes=["dmtpk-weight"])
        w["until"] = pn.widgets.EditableFloatSlider(label="simulate until (min)", start=10.0,
                                                    end=240.0, step=5.0, value=float(c.until),
                                                    css_classes=["dmtpk-until"])
        w["log"] = pn.widgets.Checkbox(label="log concentration axis", value=False,
                                       css_classes=["dmtpk-log"])
        w["population"] = pn.widgets.Switch(value=bool(c.population),
                                            css_classes=["dmtpk-population"])
        w["n"] = pn.widgets.IntInput(label="subjects", value=int(c.n), start=1,
                                     css_classes=["dmtpk-n"])
        w["seed"] = pn.widgets.IntInput(label="seed", value=int(c.seed),
                                        css_classes=["dmtpk-seed"])
        w["for_at_least"] = pn.widgets.FloatInput(label="effect held for at least (min)",
                                                  value=float(c.for_at_least),
                                                  css_classes=["dmtpk-for-at-least"])
        self.widgets = w
        self._threshold_widgets = {}
        self._thresholds_box = pn.Column()
        self._error_panes = {f: pn.pane.Alert("", alert_type="danger", visible=False,
                                              css_classes=[f"dmtpk-error-{f.replace('_', '-')}"],
                                              margin=(0, 10))
                             for f in _FIELDS}
        self._general = pn.pane.Alert("", alert_type="danger", visible=False,
                                      css_classes=["dmtpk-error"])
        self._validity = pn.pane.Alert("", alert_type="warning", visible=False,
                                       css_classes=["dmtpk-validity"])
        # fixed sizes: new text does not re-lay out the page (and its figures)
        self._metrics = pn.pane.HTML("", css_classes=["dmtpk-metrics"], width=620, height=200)
        self._shares = pn.pane.HTML("", css_classes=["dmtpk-shares"], width=620, height=60)
        self._figures = pn.Column(sizing_mode="stretch_width")
        self.view = None
        self.errors = {f: "" for f in _FIELDS}
        self.last_update_ms = float("nan")
        self._initial_thresholds = dict(c.thresholds)
        self._busy = False

        self._scenario_download = pn.widgets.FileDownload(
            callback=self._scenario_file, filename="dmtpk-explorer.toml",
            label="Export scenario (.toml)", css_classes=["dmtpk-export-scenario"])
        self._png_download = pn.widgets.FileDownload(
            callback=self._png_file, filename="dmtpk-explorer.png", label="Export figure (.png)",
            css_classes=["dmtpk-export-png"])

        err = self._error_panes
        self._infusion_box = pn.Column(w["rate"], err["rate"], w["duration"], err["duration"],
                                       w["infusion_dose"], err["infusion_dose"])
        self._inhalations_box = pn.Column(w["count"], err["count"], w["interval"],
                                          err["interval"])
        self._population_box = pn.Column(w["n"], err["n"], w["seed"], err["seed"],
                                         w["for_at_least"], err["for_at_least"])
        sidebar = pn.Column(
            "## dmtpk explorer", w["model"], err["model"], self._validity, w["route"],
            err["route"], w["dose_unit"], w["salt"], w["dose"], err["dose"],
            self._infusion_box, self._inhalations_box, w["weight"], err["weight"],
            self._thresholds_box, err["threshold"], w["until"], err["until"], w["log"],
            pn.Row(pn.pane.Markdown("**population**"), w["population"]),
            self._population_box, self._scenario_download, self._png_download, width=330)
        self.layout = pn.Row(sidebar, pn.Column(self._general, self._metrics, self._shares,
                                                self._figures, sizing_mode="stretch_width"),
                             sizing_mode="stretch_width")
        self._new_model(c.model)
        for name, widget in w.items():
            if name == "model":
                widget.param.watch(lambda e: self._on_model(e.new), "value")
            elif name == "log":
                widget.param.watch(lambda e: self._set_log(e.new), "value")
            else:
                widget.param.watch(lambda e: self.update(), "value")

    # -- display in a notebook ------------------------------------------------------------------
    def _repr_mimebundle_(self, include=None, exclude=None):
        return self.layout._repr_mimebundle_(include, exclude)

    def servable(self):
        return self.layout.servable(title="dmtpk explorer")

    # -- controls -------------------------------------------------------------------------------
    def controls(self) -> Controls:
        """The current control values as :class:`~dmtpk.explorer.compute.Controls`."""
        w = self.widgets
        text = (w["infusion_dose"].value or "").strip()
        infusion_dose = None
        if text:
            try:
                infusion_dose = float(text)
            except ValueError:
                infusion_dose = text  # a quantity string, or nonsense Infusion will name
        thresholds = {name: wi.value for name, wi in self._threshold_widgets.items()
                      if wi.value is not None}
        return Controls(model=w["model"].value, route=w["route"].value or "iv",
                        dose=w["dose"].value, dose_unit=w["dose_unit"].value,
                        salt=w["salt"].value, rate=w["rate"].value,
                        duration=w["duration"].value, infusion_dose=infusion_dose,
                        count=w["count"].value, interval=w["interval"].value,
                        weight=w["weight"].value, thresholds=thresholds,
                        until=w["until"].value, population=w["population"].value,
                        n=w["n"].value, seed=w["seed"].value,
                        for_at_least=w["for_at_least"].value)

    def _on_model(self, name) -> None:
        try:
            self._new_model(name)
        except DmtpkError as exc:
            self._show_error("model", exc)

    def _new_model(self, name) -> None:
        """A model was chosen: its routes, its endpoints' thresholds and figures, its validity
        warnings."""
        pn = self._pn
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", ModelValidityWarning)
            model = load_model(name)
        self._model = model
        self._load_notes = [str(x.message) for x in caught]
        routes = {label: key for key, (label, needs) in ROUTES.items() if needs in model.routes}
        self._busy = True
        try:
            route = self.widgets["route"]
            keep = route.value if route.value in routes.values() else None
            route.options = routes
            route.value = keep or next(iter(routes.values()))
            self._threshold_widgets = {}
            for ep in model.effects:
                value = self._initial_thresholds.get(ep.name, ep.threshold)
                self._threshold_widgets[ep.name] = pn.widgets.FloatInput(
                    label=f"{ep.name} threshold ({ep.unit})",
                    value=None if value is None else float(value),
                    css_classes=[f"dmtpk-threshold-{ep.name}"])
                self._threshold_widgets[ep.name].param.watch(lambda e: self.update(), "value")
            self._thresholds_box.objects = list(self._threshold_widgets.values())
            self._build_figures(model)
        finally:
            self._busy = False
        self.update()

    # -- figures --------------------------------------------------------------------------------
    def _build_figures(self, model) -> None:
        from bokeh.models import ColumnDataSource, Span
        from bokeh.plotting import figure
        pn = self._pn
        empty = {"t": [], "y": [], "ce": []}
        self._src = {"cp": ColumnDataSource(dict(empty)),
                     "cp_log": ColumnDataSource(dict(empty)),
                     "band": ColumnDataSource({"t": [], "lo": [], "med": [], "hi": []}),
                     "band_log": ColumnDataSource({"t": [], "lo": [], "med": [], "hi": []})}
        conc = {}
        for kind, axis in (("lin", "linear"), ("log", "log")):
            suffix = "_log" if kind == "log" else ""
            f = figure(height=300, sizing_mode="stretch_width", y_axis_type=axis,
                       title="plasma and effect-site concentration", x_axis_label="time (min)",
                       y_axis_label="concentration (ng/mL)", tools="pan,box_zoom,reset,save")
            f.varea("t", "lo", "hi", source=self._src["band" + suffix], color=_BAND, alpha=0.5,
                    legend_label="population 5-95th pct")
            f.line("t", "med", source=self._src["band" + suffix], color=_BLUE, line_dash="dotted",
                   legend_label="population median")
            f.line("t", "y", source=self._src["cp" + suffix], color=_BLUE, line_width=2,
                   legend_label="plasma (typical)")
            f.line("t", "ce", source=self._src["cp" + suffix], color=_ORANGE, line_width=2,
                   line_dash="dashed", legend_label="effect site (typical)")
            f.legend.location = "top_right"
            f.legend.label_text_font_size = "9pt"
            conc[kind] = f
        self._conc = {k: pn.pane.Bokeh(f, sizing_mode="stretch_width") for k, f in conc.items()}
        self._conc["log"].visible = self.widgets["log"].value
        self._conc["lin"].visible = not self.widgets["log"].value
        panes = [self._conc["lin"], self._conc["log"]]
        self._ep = {}
        for ep in model.effects:
            src = ColumnDataSource({"t": [], "y": [], "shade": [], "thr": []})
            band = ColumnDataSource({"t": [], "lo": [], "med": [], "hi": []})
            hist = ColumnDataSource({"left": [], "right": [], "top": []})
            f = figure(height=260, sizing_mode="stretch_width", title=f"{ep.name}",
                       x_axis_label="time (min)", y_axis_label=f"{ep.name} ({ep.unit})",
                       tools="pan,box_zoom,reset,save")
            f.varea("t", "lo", "hi", source=band, color=_BAND, alpha=0.5)
            f.line("t", "med", source=band, color=_BLUE, line_dash="dotted")
            f.varea("t", "thr", "shade", source=src, color=_ORANGE, alpha=0.25,
                    legend_label="beyond the threshold (typical)")
            f.line("t", "y", source=src, color=_BLUE, line_width=2, legend_label="typical")
            span = Span(location=0.0, dimension="width", line_color="red", line_dash="dashed")
            f.add_layout(span)
            f.legend.location = "top_right"
            f.legend.label_text_font_size = "9pt"
            h = figure(height=220, sizing_mode="stretch_width",
                       title=f"{ep.name}: duration beyond the threshold (population)",
                       x_axis_label="duration (min)", y_axis_label="subjects",
                       tools="pan,box_zoom,reset,save")
            h.quad(left="left", right="right", bottom=0, top="top", source=hist, color=_BAND,
                   line_color=_BLUE)
            h.visible = False
            hp = pn.pane.Bokeh(h, sizing_mode="stretch_width", visible=False)
            self._ep[ep.name] = dict(src=src, band=band, hist=hist, span=span, hist_pane=hp,
                                     hist_figure=h)
            panes += [pn.pane.Bokeh(f, sizing_mode="stretch_width"), hp]
        self._figures.objects = panes

    def _set_log(self, log: bool) -> None:
        self._conc["log"].visible = bool(log)
        self._conc["lin"].visible = not log
        self._draw_concentration()

    def _draw_concentration(self) -> None:
        """The concentration figure shown (linear or log axis) gets the view's data; the
        other one gets it when it is shown."""
        data = getattr(self, "_conc_data", None)
        if data is None:
            return
        log = bool(self.widgets["log"].value)
        suffix = "_log" if log else ""
        scale = _positive if log else np.asarray
        cp, band = data["cp"], data["band"]
        self._src["cp" + suffix].data = {"t": cp["t"], "y": scale(cp["y"]), "ce": scale(cp["ce"])}
        _set_data(self._src["band" + suffix], None if band is None else
                  {"t": band["t"], "lo": scale(band["lo"]), "med": scale(band["med"]),
                   "hi": scale(band["hi"])})

    # -- update ---------------------------------------------------------------------------------
    def update(self) -> None:
        """Recompute the view from the controls and redraw; a bad control shows its message."""
        if self._busy:
            return
        t0 = time.perf_counter()
        w = self.widgets
        route = w["route"].value
        self._infusion_box.visible = route == "infusion"
        self._inhalations_box.visible = route == "inhalations"
        self._population_box.visible = bool(w["population"].value)
        try:
            view = explore_view(self.controls())
        except DmtpkError as exc:
            self._show_error(getattr(exc, "field", None), exc)
            return
        except Exception as exc:  # a defect, not the user's input: said on the page, which
            # keeps its last view (a traceback would blank it)
            self._show_error(None, f"dmtpk could not compute this view ({type(exc).__name__}: "
                                   f"{exc}); the figures show the last one it could")
            return
        with self._pn.io.hold():  # one message to the browser for all the changes
            self._clear_errors()
            self.view = view
            self._draw(view)
        self.last_update_ms = (time.perf_counter() - t0) * 1e3

    def _show_error(self, field, exc) -> None:
        text = str(exc)
        pane = self._error_panes.get(field, self._general)
        if pane is not self._general:  # next to its control: the control's name is not repeated
            text = text[len(field) + 2:] if text.startswith(f"{field}: ") else text
            if field in ("dose", "infusion_dose", "rate") and self.widgets["salt"].value != "base":
                text += (f" (amounts of DMT base: the doses are stated as "
                         f"{self.widgets['salt'].value})")
        self._clear_errors()
        pane.object = text
        pane.visible = True
        key = field if field in self.errors else "model"
        self.errors[key] = text

    def _clear_errors(self) -> None:
        for f, pane in self._error_panes.items():
            if pane.visible:
                pane.visible = False
                pane.object = ""
            self.errors[f] = ""
        if self._general.visible:
            self._general.visible = False
            self._general.object = ""

    def _draw(self, view) -> None:
        r = view.result
        t = np.asarray(r.time)
        cp = np.asarray(r.concentration)
        model = r.model
        ce = (np.asarray(r.effect_sites[model.effects[0].name]) if model.effects
              else np.full_like(cp, np.nan))
        self._conc_data = {"cp": {"t": t, "y": cp, "ce": ce}, "band": None}
        bands = view.bands or {}
        b = bands.get("concentration")
        if b is not None:
            self._conc_data["band"] = {"t": t, "lo": b[0], "med": b[1], "hi": b[2]}
        self._draw_concentration()
        for ep in model.effects:
            parts = self._ep[ep.name]
            y = np.asarray(r.effects[ep.name])
            thr = view.metrics.get(ep.name, {}).get("threshold")
            if thr is None:
                shade = np.full_like(y, np.nan)
                thr_line = shade
                parts["span"].visible = False
            else:
                beyond = (y > thr) if ep.sign > 0 else (y < thr)
                shade = np.where(beyond, y, thr)
                thr_line = np.full_like(y, thr)
                parts["span"].location = float(thr)
                parts["span"].visible = True
            parts["src"].data = {"t": t, "y": y, "shade": shade, "thr": thr_line}
            b = bands.get(ep.name)
            _set_data(parts["band"], None if b is None else
                      {"t": t, "lo": b[0], "med": b[1], "hi": b[2]})
            d = (view.durations or {}).get(ep.name)
            shown = d is not None
            if shown:
                counts, edges = np.histogram(d[np.isfinite(d)], bins=30)
                parts["hist"].data = {"left": edges[:-1], "right": edges[1:], "top": counts}
            parts["hist_pane"].visible = parts["hist_figure"].visible = shown
        self._metrics.object = _metrics_html(view)
        self._shares.object = _shares_html(view)
        notes = list(self._load_notes) + [n for n in view.warnings if n not in self._load_notes]
        self._validity.object = "\n\n".join(f"**validity:** {n}" for n in notes)
        self._validity.visible = bool(notes)

    # -- export ---------------------------------------------------------------------------------
    def _scenario_file(self):
        try:
            return io.BytesIO(scenario_text(self.controls()).encode("utf-8"))
        except DmtpkError as exc:
            self._show_error(getattr(exc, "field", None), exc)
            return None

    def _png_file(self):
        try:
            return io.BytesIO(figure_png(self.controls()))
        except DmtpkError as exc:
            self._show_error(getattr(exc, "field", None), exc)
            return None


def _set_data(source, data) -> None:
    """Replace a figure's data; ``None`` empties it (and sends nothing if it is empty)."""
    if data is not None:
        source.data = data
    elif len(source.data.get("t", ())):
        source.data = {k: [] for k in source.data}


def _positive(a):
    """Values for a log axis: non-positive ones left out (NaN)."""
    a = np.asarray(a, dtype=float)
    return np.where(a > 0, a, np.nan)


def _metrics_html(view) -> str:
    """The key metrics table; each value in a cell with a stable class (``metric-cmax``,
    ``metric-intensity-duration``) for whoever reads the page."""
    m = view.metrics
    rows = [("Cmax", "cmax", m["cmax"], "ng/mL"), ("Tmax", "tmax", m["tmax"], "min"),
            ("AUC", "auc", m["auc"], "ng·min/mL")]
    model = view.result.model
    for ep in model.effects:
        e = m.get(ep.name)
        if e is None:
            continue
        rel = ">" if ep.sign > 0 else "<"
        end = " (still beyond at the end)" if e["censored"] else ""
        rows += [(f"{ep.name} onset ({rel} {e['threshold']:g})", f"{ep.name}-onset", e["onset"],
                  "min"),
                 (f"{ep.name} peak", f"{ep.name}-peak", e["peak"], ep.unit),
                 (f"{ep.name} duration ({rel} {e['threshold']:g}){end}", f"{ep.name}-duration",
                  e["duration"], "min")]
    body = "".join(f"<tr><td>{label}</td><td class='metric-{key}' style='text-align:right'>"
                   f"{_fmt(value)}</td><td>{unit}</td></tr>" for label, key, value, unit in rows)
    return ("<table style='border-collapse:collapse;font-size:14px'><tr><th style='text-align:"
            "left'>typical subject</th><th>value</th><th>unit</th></tr>" + body + "</table>")


def _shares_html(view) -> str:
    if view.population is None:
        return ""
    c = view.controls
    parts = [f"<b>population:</b> {view.population.n:,} subjects, seed {view.population.seed}"]
    model = view.result.model
    for ep in model.effects:
        share = (view.shares or {}).get(ep.name)
        if share is None:
            continue
        thr = view.metrics[ep.name]["threshold"]
        rel = "above" if ep.sign > 0 else "below"
        med = np.nanmedian(view.durations[ep.name]) if view.durations[ep.name].size else math.nan
        parts.append(f"{ep.name} {rel} {thr:g} for at least {float(c.for_at_least):g} min: "
                     f"<span class='share-{ep.name}'>{share:.1%}</span> of subjects "
                     f"(median duration {_fmt(med, 3)} min)")
    return "<br>".join(parts)


def serve(model="eckernas2022", port: int = 0, address: str = "127.0.0.1", show: bool = False):
    """Start the page's server (not its loop); returns the Bokeh server, whose ``port`` is the
    port actually bound (``port=0``: any free one)."""
    require_panel()
    import panel as pn
    if port < 0 or port > 65535:
        raise ValidationError("--port", f"must be 0-65535, got {port}")
    load_model(model)  # an unknown model is an error before the server starts

    def page():
        return Explorer(model).layout

    # Panel waits 50 ms (Syncable._debounce) before it handles a control's change, to batch
    # bursts of browser events; half the page's answer time to a dose change was that wait.
    # This process serves only the explorer, so its changes are handled at once.
    from panel.reactive import Syncable
    Syncable._debounce = 0
    if port == 0:
        with socket.socket() as s:  # a free port, so that the page's origin can be stated
            s.bind((address, 0))
            port = s.getsockname()[1]
    origins = [f"{address}:{port}", f"localhost:{port}", f"127.0.0.1:{port}"]
    return pn.serve({"/": page}, port=port, address=address, show=show, start=False,
                    title="dmtpk explorer", websocket_origin=origins, verbose=False)

