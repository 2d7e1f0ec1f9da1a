import numpy as np
import pytest

from napari_gmm_background import apply_background, extract_background, foreground_labels
from napari_gmm_background._napari.job import OUTPUTS
from napari_gmm_background._napari.widget import BackgroundWidget
from napari_gmm_background.core.progress import run_to_end
from napari_gmm_background.datasets import (
    fluorescence_movie,
    synthetic_timelapse,
    synthetic_traffic,
)
from napari_gmm_background.engine.run import iter_background

from ..helpers import drain, write_video

TIMEOUT_MS = 180_000  # the first run in a fresh environment compiles the engine


@pytest.fixture
def viewer_and_widget(make_napari_viewer):
    viewer = make_napari_viewer()
    widget = BackgroundWidget(viewer)
    viewer.window.add_dock_widget(widget)
    return viewer, widget


def run_and_wait(qtbot, widget):
    worker = widget.run()
    assert worker is not None, widget.status.value
    qtbot.waitUntil(lambda: not widget.running, timeout=TIMEOUT_MS)
    return worker


def test_background_of_the_readers_layer_equals_extract_background(
    viewer_and_widget, qtbot, tmp_path
):
    viewer, widget = viewer_and_widget
    frames, _ = synthetic_traffic(n_frames=40, height=60, width=80, seed=2)
    [layer] = viewer.open(
        str(write_video(tmp_path / "road.avi", frames)), plugin="napari-gmm-background"
    )
    widget.image.value = layer
    assert widget.time_axis.value == 0
    run_and_wait(qtbot, widget)
    result = viewer.layers["road background (auto)"]
    assert result.rgb and result.data.dtype == np.uint8
    np.testing.assert_array_equal(result.data, extract_background(layer.data))
    assert "Added" in widget.status.value


def test_same_settings_replace_their_layer_other_settings_add_their_own(viewer_and_widget, qtbot):
    viewer, widget = viewer_and_widget
    frames, _ = synthetic_traffic(n_frames=50, height=40, width=48, seed=3)
    layer = viewer.add_image(frames, name="road", rgb=True)
    widget.image.value = layer
    run_and_wait(qtbot, widget)
    first = viewer.layers["road background (auto)"]
    run_and_wait(qtbot, widget)
    assert len(viewer.layers) == 2 and viewer.layers["road background (auto)"] is first
    widget.first_frame.value, widget.stop_frame.value, widget.frame_step.value = 5, 45, 2
    run_and_wait(qtbot, widget)
    part = viewer.layers["road background (auto, frames 5:45:2)"]
    np.testing.assert_array_equal(part.data, extract_background(frames[5:45:2]))
    widget.method.value = "motionless"
    run_and_wait(qtbot, widget)
    other = viewer.layers["road background (motionless, frames 5:45:2)"]
    np.testing.assert_array_equal(
        other.data, extract_background(frames[5:45:2], method="motionless")
    )
    assert len(viewer.layers) == 4
    np.testing.assert_array_equal(first.data, extract_background(frames))


def test_uint16_timelapse_keeps_scale_and_translate(viewer_and_widget, qtbot):
    viewer, widget = viewer_and_widget
    frames, _ = synthetic_timelapse(n_frames=30, height=40, width=50, seed=1)
    layer = viewer.add_image(frames, name="cells", scale=(2.0, 0.5, 0.25), translate=(1, 10, 20))
    widget.image.value = layer
    run_and_wait(qtbot, widget)
    result = viewer.layers["cells background (auto)"]
    assert result.data.dtype == np.uint16 and not result.rgb
    np.testing.assert_array_equal(result.data, extract_background(frames))
    assert tuple(result.scale) == (0.5, 0.25) and tuple(result.translate) == (10, 20)
    low, high = result.contrast_limits
    assert result.data.min() <= low < high <= result.data.max()


def test_tzyx_stack_with_a_labelled_time_axis(viewer_and_widget, qtbot):
    viewer, widget = viewer_and_widget
    frames, _ = synthetic_timelapse(n_frames=20, height=24, width=24, seed=2)
    stack = np.stack([frames, frames // 2], axis=0)  # Z, T, Y, X
    layer = viewer.add_image(stack, name="zstack", axis_labels=("z", "t", "y", "x"))
    widget.image.value = layer
    assert widget.time_axis.value == 1
    run_and_wait(qtbot, widget)
    np.testing.assert_array_equal(
        viewer.layers["zstack background (auto)"].data, extract_background(stack, time_axis=1)
    )


def test_foreground_mask_layer(viewer_and_widget, qtbot):
    viewer, widget = viewer_and_widget
    frames, _ = synthetic_traffic(n_frames=30, height=40, width=48, seed=4)
    layer = viewer.add_image(frames, name="road", rgb=True, scale=(1, 2, 2))
    widget.image.value = layer
    widget.foreground.value = True
    widget.threshold.value = 5.0
    widget.frame_step.value = 3
    run_and_wait(qtbot, widget)
    mask = viewer.layers["road foreground (auto, frames 0::3, 5 sd)"]
    from napari.layers import Labels

    assert isinstance(mask, Labels) and mask.data.shape == (10, 40, 48)
    expected = foreground_labels(frames[::3], extract_background(frames[::3]), threshold=5.0)
    np.testing.assert_array_equal(mask.data, expected)
    assert tuple(mask.scale) == (3, 2, 2)


def test_per_frame_background_and_corrected_stack(viewer_and_widget, qtbot):
    viewer, widget = viewer_and_widget
    movie = fluorescence_movie(40, 64, 64, drift="bleaching", n_cells=3, seed=1)
    layer = viewer.add_image(movie.frames, name="cells", scale=(2, 1, 1))
    widget.image.value = layer
    widget.method.value = "fluorescence"
    widget.per_frame.value = True
    widget.output.value = "background and corrected stack"
    assert not widget.correction.native.isHidden() and not widget.dark.native.isHidden()
    widget.correction.value = "divide"
    widget.dark.value = 50.0
    run_and_wait(qtbot, widget)
    backgrounds = viewer.layers["cells background (fluorescence, per frame)"]
    expected = extract_background(movie.frames, method="fluorescence", per_frame=True)
    np.testing.assert_array_equal(backgrounds.data, expected)
    assert tuple(backgrounds.scale) == (2, 1, 1)
    corrected = viewer.layers["cells corrected (fluorescence, per frame, divide)"]
    np.testing.assert_array_equal(
        corrected.data, apply_background(movie.frames, expected, mode="divide", dark=50.0)
    )
    assert "brightness" in widget.status.value
    # The plot shows the brightness of each frame, the one the status line sums up.
    assert widget.drift_plot is not None and not widget.drift_plot.isHidden()
    (line,) = widget.drift_plot.figure.axes[0].get_lines()
    _, drifts = run_to_end(iter_background(movie.frames, method="fluorescence", per_frame=True))
    np.testing.assert_allclose(line.get_ydata(), drifts[0].brightness)
    assert line.get_ydata()[-1] < 0.85  # it bleached
    widget.per_frame.value = False
    run_and_wait(qtbot, widget)
    assert widget.drift_plot.isHidden()


def test_a_long_message_wraps_and_the_dock_keeps_its_width(viewer_and_widget, qtbot):
    viewer, widget = viewer_and_widget
    qtbot.wait(50)
    width = widget.native.sizeHint().width()
    name = "a layer with a rather long name, as microscopists' files have them " * 2
    widget.image.value = viewer.add_image(np.zeros((32, 32), np.uint8), name=name)
    widget.run()
    qtbot.wait(50)
    assert widget.status.value.endswith("(time plus two image axes).")  # nothing cut
    assert widget.status.native.wordWrap()
    assert widget.native.sizeHint().width() <= width


def test_layer_without_time_axis_gets_a_message_and_nothing_else(viewer_and_widget):
    viewer, widget = viewer_and_widget
    widget.image.value = viewer.add_image(np.zeros((32, 32), np.uint8), name="flat")
    assert widget.run() is None
    assert "no time axis" in widget.status.value
    assert [layer.name for layer in viewer.layers] == ["flat"]


def test_too_few_frames_gets_a_message(viewer_and_widget):
    viewer, widget = viewer_and_widget
    widget.image.value = viewer.add_image(np.zeros((5, 8, 8), np.uint8), name="short")
    widget.method.value = "notebook"
    widget.n_components.value = 3
    widget.frame_step.value = 3  # frames 0 and 3
    assert widget.run() is None
    assert "fewer than the 3 components" in widget.status.value
    assert len(viewer.layers) == 1


def test_nan_data_is_reported_without_a_layer(viewer_and_widget, qtbot):
    viewer, widget = viewer_and_widget
    data = np.ones((6, 8, 8), np.float32)
    data[2, 3, 3] = np.nan
    widget.image.value = viewer.add_image(data, name="holes")
    run_and_wait(qtbot, widget)
    assert "NaN" in widget.status.value
    assert len(viewer.layers) == 1


@pytest.mark.parametrize("method", ["gmm", "motionless"])
def test_cancel_leaves_nothing_and_the_viewer_answers_while_running(
    viewer_and_widget, qtbot, method
):
    from qtpy.QtCore import QTimer

    viewer, widget = viewer_and_widget
    widget.method.value = method
    widget.image.value = viewer.add_image(np.zeros((4, 8, 8), np.uint8), name="warm-up")
    run_and_wait(qtbot, widget)  # the engine is loaded before timing anything

    rng = np.random.default_rng(0)
    big = rng.integers(0, 255, (200 if method == "gmm" else 600, 300, 400, 3), dtype=np.uint8)
    widget.image.value = viewer.add_image(big, name="noise", rgb=True)
    ticks = []
    timer = QTimer()
    timer.timeout.connect(lambda: ticks.append(1))
    timer.start(10)
    worker = widget.run()
    steps = []
    worker.yielded.connect(steps.append)
    qtbot.wait(300)
    assert widget.running and len(ticks) >= 10  # the event loop kept turning
    widget.cancel()
    at_cancel = len(steps)
    qtbot.waitUntil(lambda: not widget.running, timeout=TIMEOUT_MS)
    timer.stop()
    assert worker.abort_requested
    # It stopped within the step under way when asked, long before the end.
    assert len(steps) <= at_cancel + 1 and steps[-1].done < steps[-1].total
    assert f"noise background ({method})" not in viewer.layers
    assert len(viewer.layers) == 3  # the warm-up, its background and the noise: nothing else
    assert "Cancelled" in widget.status.value
    # The cancelled job is closed: whatever it read is let go now, not at the next run.
    import inspect

    assert inspect.getgeneratorstate(widget.job) == inspect.GEN_CLOSED
    # The viewer and the widget still work.
    widget.image.value = viewer.layers["warm-up"]
    run_and_wait(qtbot, widget)
    assert f"warm-up background ({method})" in viewer.layers


def test_widget_is_in_the_plugins_menu(make_napari_viewer):
    viewer = make_napari_viewer()
    dock, widget = viewer.window.add_plugin_dock_widget(
        "napari-gmm-background", "Extract background (GMM)"
    )
    assert isinstance(widget, BackgroundWidget)


def test_widget_is_in_the_layers_project_menu(make_napari_viewer):
    from napari._app_model import get_app_model

    make_napari_viewer()
    items = get_app_model().menus.get_menu("napari/layers/project")
    commands = [getattr(item, "command", None) for item in items]
    assert any(c is not None and "napari-gmm-background" in c.id for c in commands)


def test_widget_motionless_method(viewer_and_widget, qtbot):
    from napari_gmm_background.datasets import synthetic_lingering

    viewer, widget = viewer_and_widget
    frames, _ = synthetic_lingering(n_frames=60, height=40, width=60, seed=3)
    widget.image.value = viewer.add_image(frames, name="hall", rgb=True)
    widget.method.value = "motionless"
    run_and_wait(qtbot, widget)
    np.testing.assert_array_equal(
        viewer.layers["hall background (motionless)"].data,
        extract_background(frames, method="motionless"),
    )


def test_widget_offers_exactly_the_method_table(viewer_and_widget):
    from napari_gmm_background import METHODS
    from napari_gmm_background.engine.run import DEFAULT_METHOD

    _, widget = viewer_and_widget
    assert list(widget.method.choices) == list(METHODS)
    assert widget.method.value == DEFAULT_METHOD
    for name, row in METHODS.items():  # EM settings only where mixtures are fitted
        widget.method.value = name
        for offered in (widget.n_components, widget.advanced):
            assert offered.native.isHidden() != row.fits_mixtures


def test_widget_motionless_on_a_tcyx_stack_runs_each_channel_alone(viewer_and_widget, qtbot):
    viewer, widget = viewer_and_widget
    first, _ = synthetic_timelapse(n_frames=30, height=32, width=40, n_cells=3, seed=7)
    second, _ = synthetic_timelapse(n_frames=30, height=32, width=40, n_cells=5, seed=8)
    stack = np.stack([first, second], axis=1)  # T, C, Y, X
    widget.image.value = viewer.add_image(stack, name="two channels")
    widget.method.value = "motionless"
    run_and_wait(qtbot, widget)
    result = viewer.layers["two channels background (motionless)"].data
    for channel, movie in enumerate((first, second)):
        np.testing.assert_array_equal(
            result[channel], extract_background(movie, method="motionless")
        )


def test_closing_the_viewer_during_a_run_raises_nothing(make_napari_viewer, qtbot):
    viewer = make_napari_viewer()
    widget = BackgroundWidget(viewer)
    viewer.window.add_dock_widget(widget)
    rng = np.random.default_rng(1)
    widget.image.value = viewer.add_image(
        rng.integers(0, 255, (150, 240, 320, 3), dtype=np.uint8), name="noise", rgb=True
    )
    worker = widget.run()
    qtbot.wait(200)
    viewer.close()
    qtbot.waitUntil(lambda: not worker.is_running, timeout=TIMEOUT_MS)
    qtbot.wait(100)  # the worker's last signals are delivered to a closed widget


def test_the_widget_prepares_the_engine_for_the_selected_layer_and_method(
    make_napari_viewer, monkeypatch
):
    from napari_gmm_background.engine import compiling as engine
    from napari_gmm_background.engine import is_warm

    monkeypatch.setattr(engine, "_warm", set())  # as in a new napari session
    viewer = make_napari_viewer()
    viewer.add_image(np.zeros((10, 20, 20), np.uint16), name="cells")
    widget = BackgroundWidget(viewer)  # the layer is selected: preparing starts at once
    assert widget.warm_up_thread is not None
    widget.warm_up_thread.join(timeout=120)
    assert is_warm(np.uint16, "auto")
    widget.method.value = "fluorescence"
    widget.warm_up_thread.join(timeout=120)
    assert is_warm(np.uint16, "fluorescence")


@pytest.mark.parametrize("layout", ["TCYX", "CTYX"])
def test_unlabelled_channel_stacks_run_over_their_frames_and_results_keep_the_look(
    viewer_and_widget, qtbot, layout
):
    viewer, widget = viewer_and_widget
    first, _ = synthetic_timelapse(n_frames=24, height=32, width=40, n_cells=3, seed=7)
    second, _ = synthetic_timelapse(n_frames=24, height=32, width=40, n_cells=5, seed=8)
    stack = np.stack([first, second], axis=layout.index("C"))
    layers = viewer.add_image(
        stack,
        channel_axis=layout.index("C"),
        name=["green", "magenta"],
        colormap=["green", "magenta"],
        scale=(2.0, 0.5, 0.5),
        units=("s", "um", "um"),
    )
    assert [layer.blending for layer in layers] == ["translucent_no_depth", "additive"]
    # One channel layer is T,Y,X; the whole stack as one layer is the harder case.
    whole = viewer.add_image(stack, name="both", units=("s", "s", "um", "um"))
    widget.image.value = whole
    assert widget.time_axis.value == layout.index("T")  # the frames, not the 2 channels
    widget.time_axis.value = layout.index("C")
    assert "is axis" in widget.status.value  # a 2-long time axis is questioned
    widget.time_axis.value = layout.index("T")
    assert widget.status.value == ""
    run_and_wait(qtbot, widget)
    result = viewer.layers["both background (auto)"]
    assert result.data.shape == (2, 32, 40)
    np.testing.assert_array_equal(result.data[1], extract_background(second))

    widget.image.value = layers[1]
    run_and_wait(qtbot, widget)
    background = viewer.layers["magenta background (auto)"]
    assert background.colormap.name == "magenta" and background.blending == "additive"
    assert tuple(background.scale) == (0.5, 0.5)
    assert [str(unit) for unit in background.units] == ["micrometer", "micrometer"]
    assert viewer.layers.extent.units is not None  # napari keeps using the units


def test_a_lazy_layer_is_read_in_parts_and_a_cancel_stops_the_reading(
    viewer_and_widget, qtbot, monkeypatch
):
    import time

    import dask.array as da

    from napari_gmm_background.core import reading
    from napari_gmm_background.engine.run import count_steps

    viewer, widget = viewer_and_widget
    frames, _ = synthetic_timelapse(n_frames=40, height=32, width=40, seed=2)
    monkeypatch.setattr(reading, "READ_PART_BYTES", 2 * frames[0].nbytes)

    reads = []

    def slow(block):
        time.sleep(0.05)  # a slow disk or network store
        reads.append(1)
        return block

    lazy = da.from_array(frames, chunks=(1, 32, 40)).map_blocks(slow, dtype=frames.dtype)
    widget.image.value = viewer.add_image(lazy, name="lazy stack", multiscale=False)
    # A step per part of 2 frames read, as well as the fitting's.
    lazily = reading.Reading.of(lazy)
    assert len(lazily.parts(40, frames[0].nbytes)) == 20
    assert count_steps(lazy.shape, reading=lazily) >= count_steps(frames.shape) + 20
    assert count_steps(lazy.shape, reading=lazily) == count_steps(
        lazy.shape, reading=lazily, dtype=lazy.dtype
    )  # the reading says how many bytes a frame is, whatever the stand-in
    worker = widget.run()
    qtbot.wait(300)
    assert widget.running
    read_at_cancel = len(reads)
    widget.cancel()
    qtbot.waitUntil(lambda: not widget.running, timeout=TIMEOUT_MS)
    assert worker.abort_requested
    # The reading stopped within the part under way (2 frames, a chunk each).
    assert len(reads) <= read_at_cancel + 2 < 40
    assert [layer.name for layer in viewer.layers] == ["lazy stack"]
    run_and_wait(qtbot, widget)
    np.testing.assert_array_equal(
        viewer.layers["lazy stack background (auto)"].data, extract_background(frames)
    )


@pytest.mark.parametrize(
    "lazy, method, extra",
    [
        (True, "gmm", {}),  # read in blocks
        (True, "fluorescence", {}),  # read whole by the engine
        (True, "gmm", {"foreground": True}),  # read whole first: masks need every frame
        (True, "gmm", {"output": OUTPUTS[2]}),  # the corrected stack stays lazy
        (False, "motionless", {"foreground": True, "output": OUTPUTS[1]}),
    ],
)
def test_the_progress_bar_counts_every_step_a_run_takes(
    viewer_and_widget, monkeypatch, lazy, method, extra
):
    import dask.array as da

    from napari_gmm_background._napari.job import JobResult, plan_job, run_job
    from napari_gmm_background.core import reading

    viewer, widget = viewer_and_widget
    frames, _ = synthetic_timelapse(n_frames=24, height=32, width=40, seed=4)
    monkeypatch.setattr(reading, "READ_PART_BYTES", 3 * frames[0].nbytes)
    data = da.from_array(frames, chunks=(2, 32, 40)) if lazy else frames
    widget.image.value = viewer.add_image(data, name="stack", multiscale=False)
    widget.method.value = method
    for name, value in extra.items():
        getattr(widget, name).value = value
    prepared, settings = widget._prepare(widget.image.value)
    assert (settings.reading is not None) == lazy
    plan = plan_job(prepared, settings)
    steps, result = drain(run_job(plan))
    assert isinstance(result, JobResult), result
    assert len(steps) == plan.n_steps == steps[-1].total


@pytest.mark.parametrize("value", [1e17, -3e300, 1e308])
def test_a_constant_image_of_any_finite_value_gets_its_background_added(
    viewer_and_widget, qtbot, value
):
    viewer, widget = viewer_and_widget
    widget.image.value = viewer.add_image(np.full((12, 16, 20), value), name="flat")
    run_and_wait(qtbot, widget)
    result = viewer.layers["flat background (auto)"]
    np.testing.assert_array_equal(result.data, np.full((16, 20), value))
    low, high = result.contrast_limits
    assert low < high and "could not add" not in widget.status.value


def test_an_open_flat_field_layer_corrects_a_stack_in_its_own_type(viewer_and_widget, qtbot):
    import dask.array as da

    viewer, widget = viewer_and_widget
    fields = fluorescence_movie(30, 48, 64, n_cells=6, seed=2).frames
    flat = viewer.add_image(extract_background(fields), name="flat")
    stack = fluorescence_movie(12, 48, 64, n_cells=2, seed=3).frames
    other = viewer.add_image(stack[:, :, :40], name="narrow")  # fits neither way
    widget.image.value = viewer.add_image(stack, name="lapse")
    assert widget.background_from.choices == (None, flat)  # "estimate", and what fits
    assert other not in widget.background_from.choices
    widget.background_from.value = flat
    assert widget.method.native.isHidden() and widget.output.native.isHidden()
    assert not widget.corrected_dtype.native.isHidden()
    widget.corrected_dtype.value = "input"
    widget.correction.value = "divide"
    widget.dark.value = 90.0
    run_and_wait(qtbot, widget)
    corrected = viewer.layers["lapse corrected (with flat, divide)"]
    expected = apply_background(stack, flat.data, mode="divide", dark=90.0, dtype="input")
    assert corrected.data.dtype == np.uint16
    np.testing.assert_array_equal(corrected.data, expected)
    assert [layer.name for layer in viewer.layers if "background" in layer.name] == []
    # A lazy stack is corrected lazily, with the same values.
    widget.image.value = viewer.add_image(
        da.from_array(stack, chunks=(4, 48, 64)), name="lazy", multiscale=False
    )
    widget.background_from.value = flat
    run_and_wait(qtbot, widget)
    lazy = viewer.layers["lazy corrected (with flat, divide)"].data
    assert isinstance(lazy, da.Array)
    np.testing.assert_array_equal(lazy.compute(), expected)


def test_the_status_line_says_what_the_default_chose_and_a_drift_is_told(
    viewer_and_widget, qtbot, monkeypatch
):
    from napari.utils import notifications

    from napari_gmm_background.datasets import transmitted_light_movie

    viewer, widget = viewer_and_widget
    movie = transmitted_light_movie(40, 96, 96, n_cells=2, seed=1)
    widget.image.value = viewer.add_image(movie.frames, name="bright")
    run_and_wait(qtbot, widget)
    assert "Auto chose transmitted: foreground takes light away" in widget.status.value
    np.testing.assert_array_equal(
        viewer.layers["bright background (auto)"].data, extract_background(movie.frames)
    )
    told = []
    monkeypatch.setattr(notifications, "show_warning", told.append)
    bleaching = fluorescence_movie(60, 128, 128, drift="bleaching", n_cells=2, seed=5)
    widget.image.value = viewer.add_image(bleaching.frames, name="fading")
    run_and_wait(qtbot, widget)
    qtbot.waitUntil(lambda: bool(told), timeout=10_000)
    assert told[0].startswith("fading: The brightness drifts by 30 %")
    assert "'background per frame (drift)'" in told[0] and told[0] in widget.status.value
    assert "Auto chose fluorescence" in widget.status.value
