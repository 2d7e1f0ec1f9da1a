import numpy as np
import pytest

from napari_gmm_background.cli import main
from napari_gmm_background.datasets import synthetic_traffic

from .conftest import write_video


def read_png_rgb(path):
    import cv2

    return cv2.imread(str(path))[..., ::-1]


def test_sample_writes_its_background(tmp_path, capsys):
    out = tmp_path / "bg.png"
    assert main(["--sample", "-o", str(out)]) == 0
    _, truth = synthetic_traffic()
    image = read_png_rgb(out)
    assert image.shape == truth.shape
    assert np.abs(image.astype(int) - truth).mean() < 2
    assert "mean error against the true background" in capsys.readouterr().out


def test_videos_in_rgb_order_next_to_inputs_and_bad_inputs_reported(tmp_path, capsys):
    frames, truth = synthetic_traffic(n_frames=40, height=48, width=64, seed=1)
    good = write_video(tmp_path / "good.avi", frames)
    bad = tmp_path / "bad.avi"
    bad.write_text("not a video")
    assert main([str(good), str(bad), "--quiet"]) == 1
    captured = capsys.readouterr()
    assert "bad.avi" in captured.err and captured.out == ""
    image = read_png_rgb(tmp_path / "good_background.png")
    assert np.abs(image.astype(int) - truth).mean() < 4  # MJPEG loses a little
    assert not (tmp_path / "bad_background.png").exists()


def test_never_overwrites_without_permission(tmp_path):
    out = tmp_path / "bg.png"
    out.write_bytes(b"keep me")
    assert main(["--sample", "-o", str(out)]) == 1
    assert out.read_bytes() == b"keep me"
    assert main(["--sample", "-o", str(out), "--overwrite"]) == 0
    assert out.read_bytes() != b"keep me"


def test_usage_errors(tmp_path):
    with pytest.raises(SystemExit):
        main([])
    with pytest.raises(SystemExit):
        main(["a.avi", "b.avi", "-o", str(tmp_path / "x.png")])
