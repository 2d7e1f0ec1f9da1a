import numpy as np
import pytest

from napari_gmm_background.io import VideoReadError, iter_video_frames, read_video

from .conftest import shared_file, write_video


def numbered_frames(n_frames=24, height=48, width=64):
    """Frames whose index is written in big blocks, robust to compression."""
    frames = np.zeros((n_frames, height, width, 3), dtype=np.uint8)
    for t in range(n_frames):
        for bit in range(5):
            if t >> bit & 1:
                frames[t, :, bit * 12 : bit * 12 + 10] = 255
    frames[..., 0] = np.maximum(frames[..., 0], 200)  # a red cast: tests channel order
    return frames


def frame_number(frame):
    return sum(1 << bit for bit in range(5) if frame[:, bit * 12 + 2 : bit * 12 + 8, 1].mean() > 128)


@pytest.mark.parametrize("suffix, fourcc", [(".avi", "MJPG"), (".mp4", "mp4v")])
def test_read_video_is_frame_exact_and_rgb(tmp_path, suffix, fourcc):
    frames = numbered_frames()
    path = write_video(tmp_path / f"numbered{suffix}", frames, fourcc)
    video = read_video(path)
    assert video.shape == frames.shape and video.dtype == np.uint8
    assert [frame_number(f) for f in video] == list(range(len(frames)))
    # Red stays red: OpenCV decodes BGR, we return RGB.
    assert video[..., 0].mean() > 190 and video[0, ..., 2].mean() < 20


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
        video = read_video(truncated)
    except VideoReadError as error:
        assert "truncated.avi" in str(error)
    else:
        assert 0 < len(video) < 20
        assert [frame_number(f) for f in video] == list(range(len(video)))


def test_reads_the_shared_clip_like_opencv():
    import cv2

    path = shared_file("cdnet", "traffic.avi")
    capture = cv2.VideoCapture(str(path))
    expected = []
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        expected.append(frame[..., ::-1])
    video = read_video(path)
    np.testing.assert_array_equal(video, np.stack(expected))
