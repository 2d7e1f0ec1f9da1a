"""Screenshot of a real napari viewer with the sample video and its background.

xvfb-run -a python docs/make_screenshot.py        # writes docs/screenshot.png
"""

from pathlib import Path

import napari
from qtpy.QtWidgets import QApplication

OUT = Path(__file__).resolve().parent / "screenshot.png"


def main():
    viewer = napari.Viewer(show=True)
    viewer.window.resize(1500, 760)
    viewer.open_sample("napari-gmm-background", "traffic")
    _, widget = viewer.window.add_plugin_dock_widget(
        "napari-gmm-background", "Extract background (GMM)"
    )
    worker = widget.run()
    while widget.running:
        QApplication.processEvents()
    assert worker is not None and "Added" in widget.status.value, widget.status.value
    viewer.layers.selection.active = viewer.layers["synthetic traffic background (gmm)"]
    viewer.grid.enabled = True
    viewer.grid.shape = (1, -1)
    viewer.dims.set_point(0, 30)
    viewer.reset_view()
    QApplication.processEvents()
    viewer.screenshot(str(OUT), canvas_only=False)
    print(f"wrote {OUT}")
    viewer.close()


if __name__ == "__main__":
    main()
