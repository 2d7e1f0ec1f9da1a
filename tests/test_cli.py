import re
import sys

import numpy as np
import pytest

from napari_gmm_background import extract_background
from napari_gmm_background.cli import main
from napari_gmm_background.datasets import synthetic_timelapse, synthetic_traffic
from napari_gmm_background.io import read_video

from .helpers import decode_with_opencv, write_video


def read_image(path):
    import cv2

    image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    return image[..., ::-1] if image.ndim == 3 else image


@pytest.fixture
def road_video(tmp_path):
    frames, _ = synthetic_traffic(n_frames=40, height=48, width=64, seed=1)
    return write_video(tmp_path / "road.avi", frames)


def test_sample_writes_its_background(tmp_path, capsys):
    out = tmp_path / "bg.png"
    assert main(["--sample", "-o", str(out)]) == 0
    frames, truth = synthetic_traffic()
    image = read_image(out)
    np.testing.assert_array_equal(image, extract_background(frames))
    assert np.abs(image.astype(int) - truth).mean() < 2
    out = capsys.readouterr().out
    assert "sample: 120 frames of 320x240" in out
    error = np.abs(image.astype(float) - truth).mean()
    assert f"mean error against the true background {error:.2f} grey levels" in out


def test_video_in_rgb_order_equals_the_engine(road_video, capsys):
    assert main([str(road_video)]) == 0
    image = read_image(road_video.with_name("road_background.png"))
    np.testing.assert_array_equal(image, extract_background(read_video(road_video)))
    assert "road.avi: 40 frames of 64x48" in capsys.readouterr().out


def test_streaming_under_a_small_budget_equals_in_memory(road_video, tmp_path):
    out = tmp_path / "streamed.png"
    args = [str(road_video), "-o", str(out), "--memory-budget", "100K", "--method", "notebook"]
    assert main(args + ["-q"]) == 0
    np.testing.assert_array_equal(
        read_image(out), extract_background(read_video(road_video), method="notebook")
    )


def test_frame_selection(road_video, tmp_path):
    out = tmp_path / "part.png"
    assert main([str(road_video), "-o", str(out), "--frames", "5:35:2", "-q"]) == 0
    np.testing.assert_array_equal(
        read_image(out), extract_background(read_video(road_video)[5:35:2])
    )


def test_folder_mixing_good_bad_and_foreign_files(tmp_path, capsys):
    frames, _ = synthetic_traffic(n_frames=30, height=32, width=40, seed=2)
    inputs = tmp_path / "in"
    inputs.mkdir()
    good = [write_video(inputs / f"good{i}.avi", np.roll(frames, i, axis=0)) for i in range(2)]
    truncated = inputs / "truncated.avi"
    truncated.write_bytes(good[0].read_bytes()[:300])
    text = inputs / "notes.txt"
    text.write_text("not a video")
    out = tmp_path / "out"
    out.mkdir()
    existing = out / "good1_background.png"
    existing.write_bytes(b"keep me")

    assert main([str(inputs), "--output-dir", str(out)]) == 1
    captured = capsys.readouterr()
    assert "truncated.avi: error" in captured.err and "notes.txt: error" in captured.err
    assert "good1_background.png exists" in captured.err
    assert "3 of 4 inputs failed" in captured.err
    assert existing.read_bytes() == b"keep me"
    np.testing.assert_array_equal(
        read_image(out / "good0_background.png"), extract_background(read_video(good[0]))
    )
    assert sorted(p.name for p in out.iterdir()) == ["good0_background.png", "good1_background.png"]


def test_frame_folder_and_uint16_tiff_stack(tmp_path):
    import cv2

    stack, _ = synthetic_timelapse(n_frames=20, height=24, width=30, seed=3)
    folder = tmp_path / "frames"
    folder.mkdir()
    for t, frame in enumerate(stack):
        cv2.imwrite(str(folder / f"f{t:03d}.png"), frame)
    tiff = tmp_path / "stack.tif"
    assert cv2.imwritemulti(str(tiff), list(stack))
    expected = extract_background(stack)
    assert main([str(folder), str(tiff), "--output-dir", str(tmp_path / "out"), "-q"]) == 0
    for name in ("frames_background.png", "stack_background.png"):
        image = read_image(tmp_path / "out" / name)
        assert image.dtype == np.uint16
        np.testing.assert_array_equal(image, expected)


@pytest.mark.parametrize("mask_target", ["masks", "masks.avi"])
@pytest.mark.parametrize("budget", ["100KB", "1GB"])  # streamed past the budget, or in memory
def test_foreground_masks_are_the_widgets_rule(road_video, tmp_path, mask_target, budget):
    import cv2

    from napari_gmm_background import foreground_labels

    target = tmp_path / mask_target
    args = [str(road_video), "-o", str(tmp_path / "bg.png"), "--foreground-out", str(target)]
    args += ["--threshold", "5", "--min-size", "3", "--memory-budget", budget]
    assert main(args + ["--method", "notebook", "-q"]) == 0
    frames = read_video(road_video)
    background = read_image(tmp_path / "bg.png")
    np.testing.assert_array_equal(background, extract_background(frames, method="notebook"))
    expected = foreground_labels(frames, background, threshold=5.0, min_size=3) > 0
    if target.suffix:
        masks = decode_with_opencv(target)[..., 0] > 127
    else:
        masks = [cv2.imread(str(p), cv2.IMREAD_UNCHANGED) > 127 for p in sorted(target.iterdir())]
    assert expected.any() and not expected.all()
    np.testing.assert_array_equal(np.stack(masks), expected)


def test_never_overwrites_without_permission(tmp_path):
    out = tmp_path / "bg.png"
    out.write_bytes(b"keep me")
    assert main(["--sample", "-o", str(out), "-q"]) == 1
    assert out.read_bytes() == b"keep me"
    assert main(["--sample", "-o", str(out), "--overwrite", "-q"]) == 0
    assert out.read_bytes() != b"keep me"


def test_usage_errors(tmp_path, capsys):
    for argv in (
        [],
        ["a.avi", "b.avi", "-o", str(tmp_path / "x.png")],
        ["a.avi", "--frames", "1:2:0"],
        ["a.avi", "--memory-budget", "lots"],
    ):
        with pytest.raises(SystemExit) as exit_info:
            main(argv)
        assert exit_info.value.code == 2
    with pytest.raises(SystemExit):
        main(["--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    assert "--memory-budget" in help_text
    # Defaults said where they mean something, never "(default: None)" or for a flag.
    assert "(default: None)" not in help_text and "(default: False)" not in help_text
    assert "(default: 2)" in help_text and "(default: subtract)" in help_text
    assert "a single number N means the first N frames" in help_text


def test_the_sample_is_named_as_such_in_messages(tmp_path, capsys):
    (tmp_path / "sample_background.png").write_bytes(b"mine")
    assert main(["--sample", "--output-dir", str(tmp_path), "-q"]) == 1
    error = capsys.readouterr().err
    assert error.startswith("sample: error:") and "sample.avi" not in error
    assert (tmp_path / "sample_background.png").read_bytes() == b"mine"


def test_listed_inputs_and_a_folder_of_videos_beside_their_inputs(tmp_path):
    frames, _ = synthetic_traffic(n_frames=24, height=32, width=40, seed=4)
    first = write_video(tmp_path / "a.avi", frames)
    folder = tmp_path / "more"
    folder.mkdir()
    second = write_video(folder / "b.mp4", frames[::-1], "mp4v")
    assert main([str(first), str(folder), "-q"]) == 0
    assert (tmp_path / "a_background.png").exists() and (folder / "b_background.png").exists()
    np.testing.assert_array_equal(
        read_image(folder / "b_background.png"), extract_background(read_video(second))
    )


def test_motionless_method_from_the_command_line(road_video, tmp_path):
    out = tmp_path / "motionless.png"
    assert main([str(road_video), "-o", str(out), "--method", "motionless", "-q"]) == 0
    expected = extract_background(read_video(road_video), method="motionless")
    np.testing.assert_array_equal(read_image(out), expected)
    # Over the memory budget it streams (decoded once, blocks of rows), with the same result.
    streamed = tmp_path / "streamed.png"
    args = [str(road_video), "-o", str(streamed), "--method", "motionless"]
    assert main(args + ["--memory-budget", "10KB", "-q"]) == 0
    np.testing.assert_array_equal(read_image(streamed), expected)


def test_an_output_naming_an_input_is_refused_and_the_input_kept(road_video, tmp_path, capsys):
    import cv2

    stack, _ = synthetic_timelapse(n_frames=9, height=16, width=20, seed=5)
    tiff = tmp_path / "stack.tif"
    assert cv2.imwritemulti(str(tiff), list(stack))
    kept = {path: path.read_bytes() for path in (tiff, road_video)}
    assert main([str(tiff), "-o", str(tiff), "--overwrite", "-q"]) == 1
    assert main([str(road_video), "--foreground-out", str(road_video), "--overwrite", "-q"]) == 1
    folder = road_video.parent
    assert main([str(road_video), "--foreground-out", str(folder), "--overwrite", "-q"]) == 1
    err = capsys.readouterr().err
    assert "is one of the inputs" in err and "holds the input" in err
    assert {path: path.read_bytes() for path in kept} == kept
    assert not list(folder.glob("*background*")) and not list(folder.glob(".*"))


def test_inputs_that_would_write_the_same_output_are_a_usage_error(tmp_path):
    frames, _ = synthetic_traffic(n_frames=12, height=16, width=20, seed=6)
    for camera in ("cam1", "cam2"):
        (tmp_path / camera).mkdir()
        write_video(tmp_path / camera / "clip.avi", frames)
    out = tmp_path / "out"
    with pytest.raises(SystemExit) as exit_info:
        main(
            [
                str(tmp_path / "cam1" / "clip.avi"),
                str(tmp_path / "cam2" / "clip.avi"),
                "--output-dir",
                str(out),
                "--overwrite",
            ]
        )
    assert exit_info.value.code == 2 and not out.exists()


def test_rerunning_masks_replaces_the_folder_whole(road_video, tmp_path):
    masks = tmp_path / "masks"
    args = [str(road_video), "-o", str(tmp_path / "bg.png"), "--foreground-out", str(masks), "-q"]
    assert main(args) == 0
    assert len(list(masks.iterdir())) == 40
    assert main(args + ["--frames", "10", "--overwrite"]) == 0
    assert sorted(p.name for p in masks.iterdir()) == [f"mask_{i:06d}.png" for i in range(10)]
    (masks / "notes.txt").write_text("mine")
    assert main(args + ["--overwrite"]) == 1  # a folder with other files is never replaced
    assert (masks / "notes.txt").exists()


def test_outputs_are_checked_before_any_decoding(road_video, tmp_path, capsys, monkeypatch):
    import napari_gmm_background.io.video as io

    def no_decoding(*args, **kwargs):
        raise AssertionError("decoded before the outputs were checked")

    monkeypatch.setattr(io, "video_info", no_decoding)
    assert main([str(road_video), "-o", str(tmp_path / "bg.jpg"), "-q"]) == 1
    assert main([str(road_video), "--foreground-out", str(tmp_path / "m.mp4"), "-q"]) == 1
    (tmp_path / "plain").write_text("a file")
    assert main([str(road_video), "-o", str(tmp_path / "plain" / "bg.png"), "-q"]) == 1
    err = capsys.readouterr().err
    assert ".png or .tif" in err and ".avi or .mkv" in err and "is a file, not a folder" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["plain", "road.avi"]


@pytest.mark.parametrize("mask_target", ["masks", "masks.avi"])
def test_a_full_disk_leaves_no_output_and_names_it(small_disk, capsys, mask_target):
    # The reproduction: 101 masks of 320 x 240 do not fit in 200 KiB.
    frames, _ = synthetic_traffic(n_frames=101, height=240, width=320, seed=2)
    video = write_video(small_disk.parent / "traffic.avi", frames)
    masks = small_disk / mask_target
    args = [str(video), "-o", str(small_disk.parent / "bg.png"), "--foreground-out", str(masks)]
    assert main(args + ["-q"]) == 1
    assert list(small_disk.iterdir()) == [] and not (small_disk.parent / "bg.png").exists()
    err = capsys.readouterr().err
    assert f"could not write {masks}" in err and "nothing was written" in err


@pytest.mark.parametrize("output", ["bg.png", "bg.tif"])
def test_a_background_that_does_not_fit_the_disk_is_not_written(small_disk, capsys, output):
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 256, (5, 300, 300, 3), dtype=np.uint8)  # 270 KB of noise
    video = write_video(small_disk.parent / "noise.avi", frames, fourcc="FFV1")
    assert main([str(video), "-o", str(small_disk / output), "-q"]) == 1
    assert list(small_disk.iterdir()) == []
    assert f"could not write {small_disk / output}" in capsys.readouterr().err


@pytest.mark.parametrize("which", ["background", "masks"])
def test_an_output_that_cannot_be_written_is_named_before_anything_is_decoded(
    road_video, read_only_folder, tmp_path, capsys, which
):
    target = read_only_folder / ("bg.png" if which == "background" else "masks")
    args = [str(road_video), "-o", str(target if which == "background" else tmp_path / "bg.png")]
    if which == "masks":
        args += ["--foreground-out", str(target)]
    assert main(args + ["-q"]) == 1
    err = capsys.readouterr().err
    assert f"cannot write {target}: Read-only file system" in err and ".partial" not in err
    assert not (tmp_path / "bg.png").exists()


def test_a_write_failing_only_when_the_file_is_closed_counts_as_failed(
    road_video, tmp_path, monkeypatch
):
    """Small files reach a full disk only when closed: the close is checked too."""
    import errno
    import io

    import napari_gmm_background.io.outputs as outputs

    opened = []

    class FullOnClose(io.BytesIO):
        def close(self):
            if not self.closed and len(opened) > 20:
                super().close()
                raise OSError(errno.ENOSPC, "No space left on device")
            super().close()

        def fileno(self):
            return -1  # synced by the fake fsync below

    def fake_open(path, mode="r", *args, **kwargs):
        if "w" not in mode:
            return open(path, mode, *args, **kwargs)
        opened.append(path)
        return FullOnClose()

    monkeypatch.setattr(outputs, "open", fake_open, raising=False)
    monkeypatch.setattr(outputs.os, "fsync", lambda handle: None)
    out = tmp_path / "out"
    args = [str(road_video), "-o", str(out / "bg.png"), "--foreground-out", str(out / "masks")]
    assert main(args + ["-q"]) == 1
    assert len(opened) > 20 and not out.exists()


def test_a_mask_video_cut_short_leaves_no_output(road_video, tmp_path, monkeypatch):
    import cv2

    real_writer = cv2.VideoWriter

    class ShortWriter:  # a video writer that silently stops writing
        def __init__(self, *args):
            self.writer = real_writer(*args)
            self.count = 0

        def __getattr__(self, name):
            return getattr(self.writer, name)

        def write(self, image):
            self.count += 1
            if self.count < 20:
                self.writer.write(image)

    monkeypatch.setattr(cv2, "VideoWriter", ShortWriter)
    out = tmp_path / "out"
    args = [str(road_video), "-o", str(out / "bg.png"), "--foreground-out", str(out / "m.avi")]
    assert main(args + ["-q"]) == 1
    assert not out.exists()


def test_an_interrupted_run_writes_nothing_and_says_so_in_one_line(
    road_video, tmp_path, capsys, monkeypatch
):
    import napari_gmm_background.engine.run as run
    from napari_gmm_background.core.plan import Plan, Step

    def interrupt():
        raise KeyboardInterrupt

    def interrupted_plan(*args, **kwargs):  # as Ctrl-C during the fit
        return Plan([Step(lambda: None), Step(interrupt)])

    monkeypatch.setattr(run, "plan_background", interrupted_plan)
    out = tmp_path / "out"
    assert (
        main([str(road_video), "-o", str(out / "bg.png"), "--foreground-out", str(out / "m")])
        == 130
    )
    assert not out.exists()
    err = capsys.readouterr().err
    assert "interrupted" in err and "Traceback" not in err


@pytest.mark.skipif(
    sys.platform == "win32", reason="Windows has no SIGTERM to catch: it ends a process at once"
)
def test_sigterm_stops_a_run_cleanly(tmp_path):
    """SIGTERM while the fit runs (as its progress bar shows): exit 130, nothing written."""
    import os
    import signal
    import subprocess
    import threading

    frames, _ = synthetic_traffic(n_frames=240, height=360, width=480, seed=5)
    video = write_video(tmp_path / "long.avi", frames)
    out = tmp_path / "out"
    command = [sys.executable, "-m", "napari_gmm_background", str(video), "-o", str(out / "bg.png")]
    process = subprocess.Popen(
        command + ["--method", "notebook"], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    seen = bytearray()
    fitting = threading.Event()

    def watch():
        while chunk := os.read(process.stderr.fileno(), 4096):
            seen.extend(chunk)
            if b"[fit]" in seen:
                fitting.set()

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    assert fitting.wait(timeout=180), bytes(seen)[-500:]
    process.send_signal(signal.SIGTERM)  # the fit is running: the bar said so
    process.wait(timeout=120)
    watcher.join(timeout=10)
    assert process.returncode == 130, bytes(seen)[-500:]
    assert b"interrupted: the input in progress wrote nothing" in seen
    assert not out.exists() or list(out.iterdir()) == []


def test_a_damaged_video_is_used_and_its_losses_said_in_one_line(tmp_path, capsys):
    frames, _ = synthetic_traffic(n_frames=60, height=48, width=64, seed=9)
    data = bytearray(write_video(tmp_path / "good.avi", frames).read_bytes())
    (tmp_path / "cut.avi").write_bytes(data[: len(data) // 2])
    assert main([str(tmp_path / "cut.avi"), "-o", str(tmp_path / "bg.png")]) == 0
    err = capsys.readouterr().err
    warning = [line for line in err.splitlines() if "warning" in line]
    assert len(warning) == 1 and warning[0].startswith(f"{tmp_path / 'cut.avi'}: warning: ")
    assert "declares 60 frames but holds" in warning[0] and err.count(str(tmp_path)) == 1


@pytest.fixture
def bleaching_stack(tmp_path):
    from napari_gmm_background.datasets import fluorescence_movie
    from napari_gmm_background.io.images import encode_stack

    movie = fluorescence_movie(40, 64, 64, drift="bleaching", n_cells=3, seed=1)
    path = tmp_path / "cells.tif"
    encode_stack(path, movie.frames)
    return path, movie


def test_per_frame_backgrounds_corrected_frames_masks_and_plot(bleaching_stack, capsys):
    import cv2

    from napari_gmm_background import apply_background, foreground_labels
    from napari_gmm_background.io.images import read_tiff_stack

    path, movie = bleaching_stack
    out = path.parent / "out"
    args = [str(path), "--method", "fluorescence", "--output-dir", str(out)]
    args += ["--gain-plot", str(out / "gain.png"), "--corrected-out", str(out / "flat.tif")]
    args += ["--correction", "divide", "--dark", "100", "--foreground-out", str(out / "masks")]
    assert main(args) == 0
    expected = extract_background(movie.frames, method="fluorescence", per_frame=True)
    backgrounds = read_tiff_stack(out / "cells_backgrounds.tif")  # --gain-plot: per frame
    np.testing.assert_array_equal(backgrounds, expected)
    np.testing.assert_array_equal(
        read_tiff_stack(out / "flat.tif"),
        apply_background(movie.frames, expected, mode="divide", dark=100.0),
    )
    masks = np.stack([cv2.imread(str(p), -1) > 127 for p in sorted((out / "masks").iterdir())])
    np.testing.assert_array_equal(masks, foreground_labels(movie.frames, expected) > 0)
    plot = cv2.imread(str(out / "gain.png"))
    assert plot is not None and plot.shape[0] > 100
    said = capsys.readouterr().out
    assert "(fluorescence, per frame)" in said and "background brightness 0.7" in said


def test_per_frame_needs_a_stack_output_and_writes_nothing_else(bleaching_stack, capsys):
    path, _ = bleaching_stack
    out = path.parent / "out"
    args = [str(path), "--per-frame", "-o", str(out / "bg.png"), "--corrected-out"]
    assert main(args + [str(out / "c.tif"), "-q"]) == 1
    assert "multi-page .tif" in capsys.readouterr().err
    assert main([str(path), "--gain-plot", str(out / "gain.jpg"), "-q"]) == 1
    assert "--gain-plot draws .png, .svg, .pdf" in capsys.readouterr().err
    assert not out.exists() or not any(out.iterdir())


def test_per_frame_video_over_the_budget_says_what_to_do(road_video, tmp_path, capsys):
    args = [str(road_video), "--per-frame", "-o", str(tmp_path / "bgs.tif")]
    assert main(args + ["--memory-budget", "100K", "-q"]) == 1
    error = capsys.readouterr().err
    assert "over the memory budget" in error and "--frames START:STOP:STEP" in error
    assert not (tmp_path / "bgs.tif").exists()
    # Selected frames only, decoded in memory: the same as the engine on them.
    assert main(args + ["--frames", "::2", "-q"]) == 0
    from napari_gmm_background.io.images import read_tiff_stack

    np.testing.assert_array_equal(
        read_tiff_stack(tmp_path / "bgs.tif"),
        extract_background(read_video(road_video)[::2], per_frame=True),
    )


def test_progress_counts_frames_when_decoding_and_percent_when_fitting(road_video, capsys):
    assert main([str(road_video)]) == 0
    err = capsys.readouterr().err.replace("\r", "\n")
    decoding = [line for line in err.splitlines() if "[decode]" in line]
    fitting = [line for line in err.splitlines() if "[fit]" in line]
    assert any("40/40" in line and "frames/s" in line for line in decoding)
    assert any("100%" in line for line in fitting)
    assert "step" not in err and not any("/s" in line for line in fitting)


def test_a_cold_cache_is_named_as_compiling_and_a_warm_one_is_not(tmp_path):
    import os
    import subprocess

    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path / "cache"))
    command = [sys.executable, "-m", "napari_gmm_background", "--sample", "-o"]
    said = []
    for name in ("cold.png", "warm.png"):
        done = subprocess.run(
            command + [str(tmp_path / name)], env=env, capture_output=True, text=True
        )
        assert done.returncode == 0, done.stderr
        said.append(done.stderr)
    assert "compiling the engine" in said[0]
    assert "compiling" not in said[1]


@pytest.fixture
def slide(tmp_path):
    """A flat-field's fields of view (one folder of uint16 PNGs) and two time-lapses under it."""
    import cv2

    from napari_gmm_background.datasets import fluorescence_movie
    from napari_gmm_background.io.images import encode_stack

    fields = fluorescence_movie(30, 48, 64, n_cells=6, seed=2).frames  # every frame other cells
    folder = tmp_path / "fields"
    folder.mkdir()
    for t, field in enumerate(fields):
        cv2.imwrite(str(folder / f"field_{t:03d}.png"), field)
    stacks = []
    for seed, width in [(3, 64), (4, 64), (5, 40)]:  # the last is of another camera region
        stack = fluorescence_movie(12, 48, width, n_cells=2, seed=seed).frames
        stacks.append(tmp_path / f"lapse{seed}.tif")
        encode_stack(stacks[-1], stack)
    return folder, stacks


def test_a_flat_field_made_once_is_applied_to_every_stack(slide, capsys):
    import tifffile

    from napari_gmm_background import apply_background
    from napari_gmm_background.io.images import read_frame_folder, read_tiff_stack

    folder, stacks = slide
    flat = folder.parent / "flat.tif"
    assert main([str(folder), "-o", str(flat), "-q"]) == 0
    flat_field = tifffile.imread(flat)  # uint16 fields: a 16-bit flat-field, here as .tif
    np.testing.assert_array_equal(flat_field, extract_background(read_frame_folder(folder)))
    kept = {path: path.read_bytes() for path in stacks}
    out = folder.parent / "out"
    args = [*map(str, stacks), "--background", str(flat), "--output-dir", str(out)]
    assert main(args + ["--correction", "divide", "--dark", "90"]) == 1  # one does not fit
    said = capsys.readouterr()
    for path in stacks[:2]:
        np.testing.assert_array_equal(
            read_tiff_stack(out / f"{path.stem}_corrected.tif"),
            apply_background(read_tiff_stack(path), flat_field, mode="divide", dark=90.0),
        )
        assert f"{path.name}: 12 frames of 64x48 corrected with {flat} in " in said.out
    assert not (out / "lapse5_corrected.tif").exists()
    assert "lapse5.tif: error" in said.err and "48 x 64" in said.err and "48 x 40" in said.err
    assert {path: path.read_bytes() for path in stacks} == kept  # no input written


def test_a_given_background_replaces_the_estimate_and_says_what_does_not_go_with_it(slide, capsys):
    folder, stacks = slide
    with pytest.raises(SystemExit):
        main([str(stacks[0]), "--background", str(stacks[1]), "--per-frame"])
    assert "--per-frame is for estimated backgrounds" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main([str(stacks[0]), "--background", str(folder / "missing.tif")])
    assert "--background: no such image file" in capsys.readouterr().err


def test_the_input_type_keeps_a_uint16_stack_and_says_what_clipped(slide, capsys):
    import tifffile

    from napari_gmm_background import apply_background, correction_offset
    from napari_gmm_background.io.images import read_tiff_stack

    _, stacks = slide
    stack = read_tiff_stack(stacks[0])
    out = stacks[0].parent / "kept.tif"
    args = [str(stacks[0]), "-o", str(stacks[0].parent / "bg.png"), "--corrected-out", str(out)]
    assert main(args + ["--corrected-dtype", "input"]) == 0
    background = extract_background(stack)
    corrected = read_tiff_stack(out)
    offset = correction_offset(background, dtype=np.uint16)
    assert corrected.dtype == np.uint16 and offset == int(np.ceil(background.max()))
    as_float = apply_background(stack, background).astype(np.float64)
    assert np.abs(corrected - (as_float + offset)).max() <= 0.5
    assert f"corrected frames (subtract, uint16, offset {offset})" in capsys.readouterr().out
    # A given background of ones and one ten: the offset is 10, and a value at the top of
    # the range where the background is 1 comes out 9 over it.
    given = np.ones(stack.shape[1:], np.uint16)
    given[-1, -1] = 10
    tifffile.imwrite(stacks[0].parent / "given.tif", given)
    stack[0, 0, 0] = 65535
    tifffile.imwrite(stacks[0], stack)
    args = [str(stacks[0]), "--background", str(stacks[0].parent / "given.tif")]
    assert (
        main(args + ["--corrected-out", str(out), "--corrected-dtype", "input", "--overwrite"]) == 0
    )
    said = capsys.readouterr().out
    assert "(subtract, uint16, offset 10)" in said
    assert f"warning: 1 of {stack.size} corrected values" in said and "(0 below, 1 above" in said
    assert read_tiff_stack(out)[0, 0, 0] == 65535


def test_an_imagej_hyperstack_keeps_its_channels_axes_and_pixel_size(tmp_path, capsys):
    import tifffile

    from napari_gmm_background.datasets import fluorescence_movie
    from napari_gmm_background.io.tiff import read_tiff

    channels = [fluorescence_movie(20, 32, 40, n_cells=2, seed=s).frames for s in (6, 7)]
    data = np.stack(channels, axis=1)  # T, C, Y, X
    path = tmp_path / "hyper.tif"
    tifffile.imwrite(
        path, data, imagej=True, resolution=(1 / 0.65, 1 / 0.65),
        metadata={"axes": "TCYX", "unit": "um", "finterval": 2.0},
    )  # fmt: skip
    out = tmp_path / "out"
    args = [str(path), "--output-dir", str(out), "--corrected-out", str(out / "c.tif")]
    assert main(args) == 0
    assert "20 frames of 40x32 (TCYX)" in capsys.readouterr().out
    background = tifffile.imread(out / "hyper_background.tif")  # a TIFF: two channels
    np.testing.assert_array_equal(background, extract_background(data))
    napari_reader = pytest.importorskip("napari_builtins.io").imread
    for name, axes in [("hyper_background.tif", "CYX"), ("c.tif", "TCYX")]:
        written = read_tiff(out / name)
        assert written.axes == axes
        assert napari_reader(str(out / name)).shape == written.data.shape
        assert written.calibration.pixel_size == pytest.approx((0.65, 0.65))
        assert written.calibration.unit == "µm"
    # one channel's background is the background of that channel alone
    np.testing.assert_array_equal(background[1], extract_background(channels[1]))


def test_a_given_background_per_frame_applies_frame_by_frame(slide):
    import tifffile

    from napari_gmm_background import apply_background
    from napari_gmm_background.io.images import read_tiff_stack

    _, stacks = slide
    stack = read_tiff_stack(stacks[0])
    per_frame = extract_background(stack, method="fluorescence", per_frame=True)
    tifffile.imwrite(stacks[0].parent / "bgs.tif", per_frame, photometric="minisblack")
    out = stacks[0].parent / "c.tif"
    args = [str(stacks[0]), "--background", str(stacks[0].parent / "bgs.tif")]
    assert main(args + ["--corrected-out", str(out), "-q"]) == 0
    np.testing.assert_array_equal(read_tiff_stack(out), apply_background(stack, per_frame))


def test_masks_of_a_long_video_streamed_by_the_default_are_those_in_memory(tmp_path, monkeypatch):
    """The default streams it from two decoders, whose frames also measure the masks' noise."""
    import cv2

    from napari_gmm_background import foreground_labels
    from napari_gmm_background.methods import motion

    monkeypatch.setattr(motion, "MAX_REFINE_SAMPLES", 16 * 48 * 64)  # as for big stacks
    monkeypatch.setattr(motion, "MIN_REFINE_FRAMES", 16)
    frames, _ = synthetic_traffic(n_frames=150, height=48, width=64, seed=25)
    path = write_video(tmp_path / "long.avi", frames)
    frames = read_video(path)
    budget = str(frames.nbytes // 2)  # the default's reservoirs fit; the frames do not
    args = [str(path), "-o", str(tmp_path / "bg.png"), "--foreground-out", str(tmp_path / "m")]
    assert main(args + ["--memory-budget", budget, "-q"]) == 0
    background = read_image(tmp_path / "bg.png")
    np.testing.assert_array_equal(background, extract_background(frames))
    expected = foreground_labels(frames, background) > 0
    masks = [
        cv2.imread(str(p), cv2.IMREAD_UNCHANGED) > 127 for p in sorted((tmp_path / "m").iterdir())
    ]
    assert expected.any() and not expected.all()
    np.testing.assert_array_equal(np.stack(masks), expected)


def test_the_summary_says_what_the_default_chose_and_warns_of_a_drift(tmp_path, capsys):
    from napari_gmm_background.datasets import fluorescence_movie
    from napari_gmm_background.io.images import encode_stack

    path = tmp_path / "fading.tif"
    encode_stack(
        path, fluorescence_movie(60, 128, 128, drift="bleaching", n_cells=2, seed=5).frames
    )
    assert main([str(path), "--output-dir", str(path.parent / "out")]) == 0
    out, err = capsys.readouterr()
    assert "(auto chose fluorescence: foreground adds light" in out
    [warning] = [line for line in re.split(r"[\r\n]", err) if "warning" in line]
    assert warning.startswith(f"{path}: warning: the brightness drifts by 30 %")
    assert "--per-frame" in warning
