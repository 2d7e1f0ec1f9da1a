"""Screenshots of a real napari viewer: the widget on the sample, and on real footage.

    xvfb-run -a python docs/make_screenshot.py

writes docs/screenshot.png (the built-in synthetic traffic sample and its
background) and, when ../shared/data is beside the project,
docs/real_footage.png (CDnet highway1.avi opened with the plugin's reader: a
frame next to the background the widget added).
"""

from pathlib import Path

import napari
from qtpy.QtWidgets import QApplication

DOCS = Path(__file__).resolve().parent
CLIP = DOCS.parent.parent / "shared" / "data" / "cdnet" / "highway1.avi"


def shoot(viewer, widget, name: str, frame: int) -> None:
    worker = widget.run()
    while widget.running:
        QApplication.processEvents()
    assert worker is not None and "Added" in widget.status.value, widget.status.value
    # napari 0.9 moved the grid to the canvas; older versions have it on the viewer.
    grid = viewer.canvas.grid if hasattr(viewer, "canvas") else viewer.grid
    grid.enabled = True
    grid.shape = (1, -1)
    viewer.dims.set_point(0, frame)
    viewer.reset_view()
    QApplication.processEvents()
    viewer.screenshot(str(DOCS / name), canvas_only=False)
    print(f"wrote {DOCS / name}")


def open_widget(viewer):
    _, widget = viewer.window.add_plugin_dock_widget(
        "napari-gmm-background", "Extract background (GMM)"
    )
    return widget


def main():
    viewer = napari.Viewer(show=True)
    viewer.window.resize(1500, 760)
    viewer.open_sample("napari-gmm-background", "traffic")
    widget = open_widget(viewer)
    shoot(viewer, widget, "screenshot.png", frame=30)
    viewer.close()

    if not CLIP.exists():
        print(f"skipped docs/real_footage.png: {CLIP} not found")
        return
    viewer = napari.Viewer(show=True)
    viewer.window.resize(1500, 760)
    viewer.open(str(CLIP), plugin="napari-gmm-background")
    widget = open_widget(viewer)
    shoot(viewer, widget, "real_footage.png", frame=60)
    viewer.close()


if __name__ == "__main__":
    main()
