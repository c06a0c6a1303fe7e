"""The report's plots: nothing is drawn outside the picture."""

from __future__ import annotations

import pandas as pd
import pytest

from cxpredict.analyst import plots


@pytest.mark.parametrize("name", ["Mentions of great / atmosphere / place number {} (negative in 11%)", "Price {}"])
def test_the_driver_ranking_axis_label_fits_beside_long_driver_names(monkeypatch, name):
    """Long names (issue 22's Yelp topics) push the axes right; the axis label must stay inside the figure."""
    drawn = []
    monkeypatch.setattr(plots, "_png", lambda fig: drawn.append(fig) or "")
    names = [name.format(i) for i in range(12)]
    plots.driver_ranking(pd.DataFrame({"label": names, "points": [-1.0 - i for i in range(12)],
                                       "actionable": [i % 2 == 0 for i in range(12)]}))
    fig = drawn[0]
    fig.tight_layout()
    fig.canvas.draw()
    label = fig.axes[0].xaxis.label.get_window_extent(fig.canvas.get_renderer())
    assert 0 <= label.x0 and label.x1 <= fig.bbox.x1, (label, fig.bbox)
    plots.plt.close(fig)
