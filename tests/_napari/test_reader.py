import re

import numpy as np
import pytest

from napari_gmm_background._napari.reader import napari_get_reader

from ..helpers import decode_with_opencv, frame_number, numbered_frames, shared_file, write_video

PLUGIN = "napari-gmm-background"


@pytest.mark.parametrize("name", ["a.avi", "b.MP4", "c.mov", "d.MkV", "e.webm", "f.mpeg"])
def test_claims_video_extensions_in_any_case(name):
    assert callable(napari_get_reader(name))


@pytest.mark.parametrize("name", ["a.tif", "b.png", "notes.txt", "video.avi.bak"])
def test_leaves_other_files_alone(name):
    assert napari_get_reader(name) is None


def test_leaves_directories_and_mixed_lists_alone(tmp_path):
    folder = tmp_path / "clip.avi"
    folder.mkdir()
    assert napari_get_reader(str(folder)) is None
    assert napari_get_reader(["a.avi", "b.tif"]) is None
    assert napari_get_reader([]) is None


@pytest.mark.parametrize("suffix, fourcc", [(".avi", "MJPG"), (".mp4", "mp4v")])
def test_opens_a_video_in_napari_frame_exact_and_rgb(make_napari_viewer, tmp_path, suffix, fourcc):
    frames = numbered_frames(20)
    path = write_video(tmp_path / f"numbered{suffix}", frames, fourcc)
    viewer = make_napari_viewer()
    [layer] = viewer.open(str(path), plugin=PLUGIN)
    assert layer.name == "numbered" and layer.rgb
    assert layer.data.shape == (20, 48, 80, 3) and layer.data.dtype == np.uint8
    assert [frame_number(f) for f in layer.data] == list(range(20))
    assert layer.data[..., 0].mean() > 190  # red cast kept in the red channel
    metadata = layer.metadata
    assert metadata["frame_count"] == 20 and metadata["source_path"] == str(path)
    assert metadata["fps"] == pytest.approx(25.0) and metadata["lazy"] is False


def test_over_budget_video_opens_lazily_and_frame_exact(make_napari_viewer, tmp_path, monkeypatch):
    frames = numbered_frames(30)
    path = write_video(tmp_path / "long.avi", frames)
    monkeypatch.setenv("NAPARI_GMM_BACKGROUND_MEMORY_BUDGET", str(frames.nbytes // 3))
    viewer = make_napari_viewer()
    [layer] = viewer.open(str(path), plugin=PLUGIN)
    assert layer.metadata["lazy"] is True and not isinstance(layer.data, np.ndarray)
    viewer.dims.set_point(0, 17)
    assert frame_number(np.asarray(layer.data[17])) == 17
    assert [frame_number(np.asarray(layer.data[t])) for t in (29, 0, 8)] == [29, 0, 8]


def test_widget_runs_on_a_lazy_video(make_napari_viewer, qtbot, tmp_path, monkeypatch):
    from napari_gmm_background import extract_background
    from napari_gmm_background._napari.widget import BackgroundWidget
    from napari_gmm_background.datasets import synthetic_traffic

    frames, _ = synthetic_traffic(n_frames=30, height=48, width=64, seed=5)
    path = write_video(tmp_path / "lazy.avi", frames)
    monkeypatch.setenv("NAPARI_GMM_BACKGROUND_MEMORY_BUDGET", str(frames.nbytes // 3))
    viewer = make_napari_viewer()
    [layer] = viewer.open(str(path), plugin=PLUGIN)
    assert layer.metadata["lazy"] is True
    widget = BackgroundWidget(viewer)
    widget.image.value = layer
    widget.frame_step.value = 4  # 8 of 30 frames fit the budget of a third
    assert widget.run() is not None, widget.status.value
    qtbot.waitUntil(lambda: not widget.running, timeout=180_000)
    expected = extract_background(np.asarray(layer.data)[::4])
    np.testing.assert_array_equal(
        viewer.layers["lazy background (auto, frames 0::4)"].data, expected
    )
    # All 30 frames are over the budget: gmm reads a block of rows at a time...
    widget.frame_step.value = 1
    assert widget.run() is not None, widget.status.value
    qtbot.waitUntil(lambda: not widget.running, timeout=180_000)
    np.testing.assert_array_equal(
        viewer.layers["lazy background (auto)"].data, extract_background(np.asarray(layer.data))
    )
    # ...a method that needs every frame at once is refused, saying what would fit.
    widget.method.value = "notebook"
    assert widget.run() is None and "budget" in widget.status.value
    assert "frame step" in widget.status.value and "a block of rows" in widget.status.value


def test_shared_clip_equals_opencv_decode(make_napari_viewer):
    path = shared_file("cdnet", "traffic.avi")
    viewer = make_napari_viewer()
    [layer] = viewer.open(str(path), plugin=PLUGIN)
    np.testing.assert_array_equal(layer.data, decode_with_opencv(path))


@pytest.mark.parametrize("content", [b"", b"this is not a video", None])
def test_bad_files_give_a_clear_error_and_no_layer(make_napari_viewer, tmp_path, content):
    path = tmp_path / "broken.avi"
    if content is None:  # truncated to its header
        good = write_video(tmp_path / "good.avi", numbered_frames(5))
        content = good.read_bytes()[:200]
    path.write_bytes(content)
    viewer = make_napari_viewer()
    with pytest.raises(Exception, match="broken.avi"):
        viewer.open(str(path), plugin=PLUGIN)
    assert len(viewer.layers) == 0


def test_a_file_that_crashes_the_decoder_leaves_the_viewer_working(make_napari_viewer, tmp_path):
    from ..helpers import write_uncompressed_avi

    frames = np.random.default_rng(3).integers(0, 255, (5, 20, 24, 3), dtype=np.uint8)
    path = write_uncompressed_avi(tmp_path / "classic.avi", frames, bottom_up=True)
    viewer = make_napari_viewer()
    try:
        [layer] = viewer.open(str(path), plugin="napari-gmm-background")
        np.testing.assert_array_equal(layer.data, frames)  # a decoder that copes
    except Exception as error:  # OpenCV 5.0 aborts on these: refused, not fatal
        assert "classic.avi" in str(error) and "crashed" in str(error)
        assert len(viewer.layers) == 0
    viewer.add_image(np.zeros((4, 4)))  # the viewer still works
    assert len(viewer.layers) >= 1


def test_lost_frames_are_named_in_the_layer(make_napari_viewer, tmp_path):
    from napari_gmm_background.io import DamagedVideoWarning

    frames = np.random.default_rng(4).integers(0, 255, (30, 24, 32, 3), dtype=np.uint8)
    data = bytearray(write_video(tmp_path / "full.avi", frames).read_bytes())
    (tmp_path / "cut.avi").write_bytes(data[: len(data) // 2])
    viewer = make_napari_viewer()
    with pytest.warns(DamagedVideoWarning, match="cut.avi"):
        [layer] = viewer.open(str(tmp_path / "cut.avi"), plugin="napari-gmm-background")
    assert layer.metadata["declared_frames"] == 30
    assert len(layer.metadata["lost_frames"]) == 30 - layer.data.shape[0] > 0


def test_a_lazy_damaged_video_says_what_it_lost_when_viewed_and_when_run(
    make_napari_viewer, qtbot, tmp_path, monkeypatch
):
    import napari.utils.notifications as notifications

    from napari_gmm_background._napari.widget import BackgroundWidget
    from napari_gmm_background.datasets import synthetic_traffic

    frames, _ = synthetic_traffic(n_frames=101, height=60, width=80, seed=1)
    data = bytearray(write_video(tmp_path / "good.avi", frames).read_bytes())
    rng = np.random.default_rng(0)
    for start in rng.integers(len(data) // 4, 3 * len(data) // 4, 6):
        data[start : start + 200] = rng.integers(0, 256, 200, dtype=np.uint8).tobytes()
    (tmp_path / "corrupt.avi").write_bytes(data)
    from napari_gmm_background.io import LazyVideo

    shown = []
    monkeypatch.setattr(notifications, "show_warning", shown.append)
    monkeypatch.setenv("NAPARI_GMM_BACKGROUND_MEMORY_BUDGET", str(frames.nbytes // 3))
    viewer = make_napari_viewer()
    [layer] = viewer.open(str(tmp_path / "corrupt.avi"), plugin="napari-gmm-background")
    assert layer.metadata["lazy"]
    # What a lazy read of this file loses (chunks seek, so it depends on them).
    chunks = layer.data.frames_per_chunk
    probe = LazyVideo(tmp_path / "corrupt.avi", frames_per_chunk=chunks, on_loss=lambda m: None)
    np.asarray(probe)
    lost = sorted(probe.lost)
    assert lost
    viewer.dims.set_current_step(0, lost[0])
    viewer.dims.set_current_step(0, lost[0] + 1)
    viewer.dims.set_current_step(0, lost[0])  # seen again: said once
    # The frames a message names follow the path (whose digits, e.g. pytest-37, are not frames).
    prefix = f"{tmp_path / 'corrupt.avi'}: "
    named = [
        message
        for message in shown
        if message.startswith(prefix) and re.search(rf"\b{lost[0]}\b", message[len(prefix) :])
    ]
    assert len(named) == 1
    widget = BackgroundWidget(viewer)
    widget.image.value = layer
    widget.run()
    qtbot.waitUntil(lambda: not widget.running, timeout=60_000)
    [result] = [other for other in viewer.layers if other is not layer]
    assert result.metadata["lost_frames"] == lost == sorted(layer.data.lost)
    assert sorted(layer.metadata["lost_frames"]) == lost
    assert "could not be decoded" in widget.status.value and "black" in widget.status.value
