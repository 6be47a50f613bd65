"""The dosing explorer: a web page (``dmtpk explore``) and a notebook widget
(:func:`dmtpk.explore`) where moving a dose shows plasma level, effect and its duration change
at once, for the typical subject and for a population.

The page needs the optional extra ``pip install "dmtpk[explore]"`` (Panel, on Bokeh);
``import dmtpk`` does not import it. What the page shows is computed by
:mod:`dmtpk.explorer.compute`, which needs nothing beyond dmtpk.
"""

from __future__ import annotations

__all__ = ["explore"]


def explore(model="eckernas2022", **controls):
    """The explorer's controls and views, for display in a Jupyter notebook.

    Parameters
    ----------
    model : str, path or Model
        The model shown first (a library name or a model file); the page's model list holds
        the library's models too.
    **controls
        Initial control values, as the fields of :class:`dmtpk.explorer.compute.Controls`
        (``route="infusion"``, ``dose=16``, ``salt="fumarate"``, ``population=True``, ...).

    Returns
    -------
    Explorer
        Displays itself in a notebook; ``.controls`` are the widgets, ``.view`` what is shown
        (:class:`~dmtpk.explorer.compute.View`), ``.errors`` the message shown next to each
        control.

    Raises
    ------
    ValidationError
        Panel (the ``explore`` extra) is not installed, or a control value is unknown.
    """
    from .app import Explorer, require_panel
    require_panel()
    import panel as pn
    pn.extension()
    return Explorer(model, **controls)
