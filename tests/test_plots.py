import numpy as np

from napari_gmm_background.engine.drift import Drift
from napari_gmm_background.plots import drift_figure


def drift(brightness, changes=()):
    brightness = np.asarray(brightness, dtype=float)
    ones = np.ones((len(brightness), 1))
    return Drift(0 * ones, ones, brightness, tuple(changes))


def test_brightness_per_stack_and_change_frames(tmp_path):
    import cv2

    fading = np.linspace(1.0, 0.7, 50)
    jump = np.r_[np.ones(25), np.full(25, 1.3)]
    figure = drift_figure([drift(fading), drift(jump, [25])], ["488 nm", "561 nm"], title="cells")
    (axes,) = figure.axes
    lines = axes.get_lines()
    np.testing.assert_allclose(lines[0].get_ydata(), fading)
    np.testing.assert_allclose(lines[1].get_ydata(), jump)
    # The change frame is a vertical line, named once in the legend.
    assert list(lines[2].get_xdata()) == [25, 25]
    legend = [text.get_text() for text in axes.get_legend().get_texts()]
    assert legend == ["488 nm", "561 nm", "scene change"]
    figure.savefig(tmp_path / "gain.png")
    assert cv2.imread(str(tmp_path / "gain.png")).shape[1] > 300


def test_one_stack_without_changes_has_no_legend():
    (axes,) = drift_figure([drift(np.linspace(1.0, 0.9, 10))]).axes
    assert axes.get_legend() is None and len(axes.get_lines()) == 1
