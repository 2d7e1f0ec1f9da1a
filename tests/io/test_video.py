import numpy as np
import pytest

from napari_gmm_background.io import (
    DamagedVideoWarning,
    VideoReadError,
    iter_video_frames,
    open_video,
    read_video,
    read_video_dask,
    video_info,
)

from ..helpers import decode_with_opencv, frame_number, numbered_frames, shared_file, write_video


@pytest.mark.parametrize("suffix, fourcc", [(".avi", "MJPG"), (".mp4", "mp4v")])
def test_read_video_is_frame_exact_and_rgb(tmp_path, suffix, fourcc):
    frames = numbered_frames()
    path = write_video(tmp_path / f"numbered{suffix}", frames, fourcc)
    video = read_video(path)
    assert video.shape == frames.shape and video.dtype == np.uint8
    assert [frame_number(f) for f in video] == list(range(len(frames)))
    # Red stays red: OpenCV decodes BGR, we return RGB.
    assert video[..., 0].mean() > 190 and video[0, ..., 2].mean() < 20


def test_iter_video_frames_can_skip_frames(tmp_path):
    path = write_video(tmp_path / "v.avi", numbered_frames(20))
    frames = list(iter_video_frames(path, indices=range(3, 17, 4)))
    assert [frame_number(f) for f in frames] == [3, 7, 11, 15]
    assert list(iter_video_frames(path, indices=range(0))) == []


def test_iter_video_frames_can_keep_bgr(tmp_path):
    path = write_video(tmp_path / "v.avi", numbered_frames(4))
    first = next(iter_video_frames(path, rgb=False))
    assert first[..., 2].mean() > 190


def test_missing_and_unreadable_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such video"):
        read_video(tmp_path / "missing.avi")
    text = tmp_path / "notes.avi"
    text.write_text("not a video")
    with pytest.raises(VideoReadError, match="notes.avi"):
        read_video(text)
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    with pytest.raises(VideoReadError, match="empty.mp4"):
        read_video(empty)


def test_truncated_video_gives_its_first_frames_or_a_clear_error(tmp_path):
    path = write_video(tmp_path / "full.avi", numbered_frames(20))
    data = path.read_bytes()
    truncated = tmp_path / "truncated.avi"
    truncated.write_bytes(data[: len(data) // 2])
    try:
        with pytest.warns(
            DamagedVideoWarning, match=r"truncated.avi: \d+ of 20 frames could not be decoded"
        ):
            video = read_video(truncated)
    except VideoReadError as error:
        assert "truncated.avi" in str(error)
    else:
        # The frames before the cut decode exactly; the one the cut runs
        # through may come out damaged, as OpenCV decodes what is there.
        assert 0 < len(video) < 20
        assert [frame_number(f) for f in video[:-1]] == list(range(len(video) - 1))


def test_reads_the_shared_clip_like_opencv():
    path = shared_file("cdnet", "traffic.avi")
    np.testing.assert_array_equal(read_video(path), decode_with_opencv(path))


@pytest.mark.parametrize("suffix, fourcc", [(".avi", "MJPG"), (".mp4", "mp4v")])
def test_lazy_video_is_frame_exact(tmp_path, suffix, fourcc):
    frames = numbered_frames(45)
    path = write_video(tmp_path / f"numbered{suffix}", frames, fourcc)
    lazy = read_video_dask(path, frames_per_chunk=7)
    assert lazy.shape == frames.shape and lazy.chunks[0][0] == 7
    # Chunks out of order, each decoding its own range.
    assert [frame_number(lazy[t].compute()) for t in (44, 3, 20, 21, 0)] == [44, 3, 20, 21, 0]
    np.testing.assert_array_equal(lazy.compute(), read_video(path))


def test_video_info_checks_the_frame_count(tmp_path):
    path = write_video(tmp_path / "v.avi", numbered_frames(13), fps=12.5)
    info = video_info(path)
    assert (info.n_frames, info.height, info.width) == (13, 48, 80)
    assert info.fps == pytest.approx(12.5) and info.fourcc == "MJPG"
    assert info.decoded_bytes == 13 * 48 * 80 * 3


def test_open_video_is_eager_under_the_budget_and_lazy_over_it(tmp_path):
    path = write_video(tmp_path / "v.avi", numbered_frames(10))
    eager, metadata = open_video(path)
    assert isinstance(eager, np.ndarray) and metadata["lazy"] is False
    assert metadata["frame_count"] == 10 and metadata["source_path"] == str(path)
    lazy, metadata = open_video(path, budget=10 * 48 * 80 * 3 - 1)
    assert not isinstance(lazy, np.ndarray) and metadata["lazy"] is True
    np.testing.assert_array_equal(np.asarray(lazy), eager)
    np.testing.assert_array_equal(lazy.to_dask().compute(), eager)


def test_lazy_video_indexes_like_the_decoded_array(tmp_path):
    from napari_gmm_background.io import LazyVideo

    frames = numbered_frames(30)
    path = write_video(tmp_path / "v.avi", frames)
    eager = read_video(path)
    lazy = LazyVideo(path, frames_per_chunk=4, cache_bytes=2 * 4 * 48 * 80 * 3)
    assert lazy.shape == eager.shape and lazy.dtype == eager.dtype and lazy.ndim == 4
    for key in [
        5,
        -1,
        (7, slice(10, 20)),
        slice(3, 25, 4),
        (slice(None, None, 7), 0, 1),
        (Ellipsis, 0),
        (12, Ellipsis, 2),
        np.int64(29),
    ]:
        np.testing.assert_array_equal(lazy[key], eager[key])
    assert len(lazy._cache) <= 2  # bounded cache
    with pytest.raises(IndexError):
        lazy[30]


def test_grey_video_opens_single_channel(tmp_path):
    from napari_gmm_background.datasets import synthetic_traffic

    colour, _ = synthetic_traffic(n_frames=6, height=48, width=80)
    grey = np.repeat(colour.mean(axis=-1, keepdims=True).astype(np.uint8), 3, axis=-1)
    path = write_video(tmp_path / "grey.avi", grey)
    data, metadata = open_video(path)
    assert data.shape == (6, 48, 80) and metadata["grey"]
    np.testing.assert_array_equal(data, np.rint(read_video(path).mean(axis=-1)))
    colour_data, metadata = open_video(write_video(tmp_path / "colour.avi", colour))
    assert colour_data.shape == (6, 48, 80, 3) and "grey" not in metadata


@pytest.fixture(scope="module")
def damaged(tmp_path_factory):
    """A clip, the same with corrupted bytes in the middle, cut to a third, and one frame."""
    from napari_gmm_background.datasets import synthetic_traffic

    folder = tmp_path_factory.mktemp("damaged")
    frames, _ = synthetic_traffic(n_frames=101, height=60, width=80, seed=1)
    good = write_video(folder / "good.avi", frames)
    data = bytearray(good.read_bytes())
    rng = np.random.default_rng(0)
    corrupt = bytearray(data)
    for start in rng.integers(len(data) // 4, 3 * len(data) // 4, 6):
        corrupt[start : start + 200] = rng.integers(0, 256, 200, dtype=np.uint8).tobytes()
    (folder / "corrupt.avi").write_bytes(corrupt)
    (folder / "truncated.avi").write_bytes(data[: len(data) // 3])
    write_video(folder / "one.avi", frames[:1])
    return folder


def test_damaged_frames_are_skipped_named_and_the_rest_decoded(damaged):
    from napari_gmm_background.io import DamagedVideoWarning, open_video

    with pytest.warns(DamagedVideoWarning, match=r"corrupt.avi: \d of 101 frames could not"):
        frames = read_video(damaged / "corrupt.avi")
    assert 90 <= len(frames) < 101  # a loop that stopped at the first damage kept 37
    with pytest.warns(DamagedVideoWarning, match="frames could not be decoded"):
        _, metadata = open_video(damaged / "corrupt.avi")
    assert len(metadata["lost_frames"]) == 101 - len(frames)


def test_a_truncated_file_is_reported_however_it_is_read(damaged):
    from napari_gmm_background.io import DamagedVideoWarning, open_video
    from napari_gmm_background.io.streaming import video_background

    path = damaged / "truncated.avi"
    assert video_info(path).declared_frames == 101 and video_info(path).n_frames < 101
    with pytest.warns(DamagedVideoWarning, match="could not be decoded"):
        assert len(read_video(path)) < 101
    with pytest.warns(DamagedVideoWarning, match="declares 101 frames but holds"):
        video, _ = open_video(path, budget=1000)  # lazy
    with pytest.warns(DamagedVideoWarning, match="declares 101 frames but holds"):
        video_background(path)


def test_a_one_frame_video(damaged):
    info = video_info(damaged / "one.avi")
    assert info.n_frames == 1
    assert read_video(damaged / "one.avi").shape[0] == 1


def test_an_undecodable_frame_of_a_lazy_video_is_black_and_named(damaged, monkeypatch):
    import cv2

    from napari_gmm_background.io import DamagedVideoWarning, LazyVideo

    real = cv2.VideoCapture

    class FailsAtTen:  # frame 10 cannot be decoded
        def __init__(self, *args):
            self.capture = real(*args)
            self.position = 0

        def __getattr__(self, name):
            return getattr(self.capture, name)

        def set(self, prop, value):
            if prop == cv2.CAP_PROP_POS_FRAMES:
                self.position = int(value)
            return self.capture.set(prop, value)

        def read(self):
            ok, frame = self.capture.read()
            self.position += 1
            return (False, None) if self.position == 11 else (ok, frame)

    video = LazyVideo(damaged / "good.avi", frames_per_chunk=8)
    monkeypatch.setattr(cv2, "VideoCapture", FailsAtTen)
    with pytest.warns(DamagedVideoWarning, match="frame 10 could not be decoded .* shown black"):
        chunk = video[8:16]
    assert chunk[2].max() == 0 and chunk[1].max() > 0 and chunk[3].max() > 0


def test_a_file_that_crashes_the_decoder_is_refused_not_fatal(tmp_path, monkeypatch):
    import napari_gmm_background.io.video as io
    from napari_gmm_background.io import VideoReadError

    path = write_video(tmp_path / "fine.avi", np.zeros((4, 16, 16, 3), np.uint8))
    monkeypatch.setattr(io, "_PROBE", "import os; os.abort()")  # a decoder that crashes
    monkeypatch.setattr(io, "_probed", {})
    with pytest.raises(VideoReadError, match="decoder crashed .* convert it first"):
        video_info(path)
    with pytest.raises(VideoReadError, match="crashed"):
        read_video(path)  # remembered: not probed again


def test_a_classic_uncompressed_avi_opens_or_is_refused_but_never_kills(tmp_path):
    from napari_gmm_background.io import VideoReadError

    from ..helpers import write_uncompressed_avi

    frames = np.random.default_rng(2).integers(0, 255, (6, 20, 24, 3), dtype=np.uint8)
    for bottom_up in (True, False):
        path = write_uncompressed_avi(tmp_path / f"raw{bottom_up}.avi", frames, bottom_up=bottom_up)
        try:
            np.testing.assert_array_equal(read_video(path), frames)
        except VideoReadError as error:  # OpenCV 5.0 aborts on bottom-up frames
            assert bottom_up and "crashed" in str(error)


def test_a_lazy_video_says_each_lost_frame_once_and_keeps_count(damaged):
    import warnings

    from napari_gmm_background.io import DamagedVideoWarning, LazyVideo

    said = []
    video = LazyVideo(damaged / "corrupt.avi", frames_per_chunk=4, on_loss=said.append)
    black = [t for t in range(len(video)) if not video[t].any()]  # the numbering kept
    lost = sorted(video.lost)
    assert lost and lost == black
    for t in lost:  # viewed again: said no more
        video[t]
    assert len(said) == len({t // 4 for t in lost})
    assert all("corrupt.avi" in message and "could not be decoded" in message for message in said)
    # Read through dask (a run of the widget), the losses are the video's too, said once.
    fresh = LazyVideo(damaged / "corrupt.avi", frames_per_chunk=4)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        np.asarray(fresh.to_dask())
    assert sorted(fresh.lost) == lost
    assert len([w for w in caught if issubclass(w.category, DamagedVideoWarning)]) >= 1
