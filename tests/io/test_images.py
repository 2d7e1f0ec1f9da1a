"""Image files: frame folders, TIFF stacks, written outputs and masks."""

import cv2
import numpy as np
import pytest

from napari_gmm_background.io.images import (
    InputError,
    MaskWriter,
    input_kind,
    read_frame_folder,
    read_frames,
    read_tiff_stack,
    write_background,
    write_image,
)

from ..helpers import decode_with_opencv, write_video


def test_input_kinds(tmp_path):
    assert input_kind(tmp_path) == "folder"
    assert input_kind(tmp_path / "a.TIF") == "tiff"
    assert input_kind(tmp_path / "a.Mp4") == "video"
    with pytest.raises(InputError, match="not a video"):
        input_kind(tmp_path / "notes.txt")


def test_frame_folder_in_name_order_and_rgb(tmp_path):
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 255, (4, 6, 8, 3), dtype=np.uint8)
    for t in (2, 0, 3, 1):
        cv2.imwrite(str(tmp_path / f"frame_{t:02d}.png"), frames[t][..., ::-1])
    (tmp_path / "readme.txt").write_text("not an image")
    np.testing.assert_array_equal(read_frame_folder(tmp_path), frames)
    np.testing.assert_array_equal(read_frames(tmp_path), frames)


def test_frame_folder_errors(tmp_path):
    with pytest.raises(InputError, match="no image files"):
        read_frame_folder(tmp_path)
    cv2.imwrite(str(tmp_path / "a.png"), np.zeros((4, 4), np.uint8))
    cv2.imwrite(str(tmp_path / "b.png"), np.zeros((5, 4), np.uint8))
    with pytest.raises(InputError, match="differs in size"):
        read_frame_folder(tmp_path)


def test_uint16_tiff_stack(tmp_path):
    stack = np.arange(3 * 5 * 7, dtype=np.uint16).reshape(3, 5, 7) * 300
    assert cv2.imwritemulti(str(tmp_path / "s.tif"), list(stack))
    np.testing.assert_array_equal(read_tiff_stack(tmp_path / "s.tif"), stack)
    (tmp_path / "bad.tif").write_bytes(b"II*\x00garbage")
    with pytest.raises(InputError, match="cannot read"):
        read_tiff_stack(tmp_path / "bad.tif")


def test_read_frames_of_a_video(tmp_path):
    frames = np.zeros((5, 16, 16, 3), np.uint8)
    path = write_video(tmp_path / "v.avi", frames)
    assert read_frames(path).shape == (5, 16, 16, 3)


def test_written_images_read_back_in_rgb_and_leave_no_temporary(tmp_path):
    rgb = np.zeros((4, 5, 3), np.uint8)
    rgb[..., 0] = 200  # red
    write_image(tmp_path / "bg.png", rgb)
    assert cv2.imread(str(tmp_path / "bg.png"))[0, 0].tolist() == [0, 0, 200]  # BGR on disk
    deep = np.full((4, 5), 40000, np.uint16)
    write_image(tmp_path / "deep.png", deep)
    assert cv2.imread(str(tmp_path / "deep.png"), cv2.IMREAD_UNCHANGED).dtype == np.uint16
    floats = np.full((4, 5), 1.5, np.float32)
    assert write_background(tmp_path / "f.png", floats).name == "f.tif"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bg.png", "deep.png", "f.tif"]
    with pytest.raises(InputError, match=".png or .tif"):
        write_image(tmp_path / "x.jpg", rgb)


@pytest.mark.parametrize("target", ["masks", "masks.avi"])
def test_mask_writer_is_lossless(tmp_path, target):
    rng = np.random.default_rng(1)
    masks = rng.random((6, 12, 16)) > 0.5
    writer = MaskWriter(tmp_path / target, (12, 16))
    for mask in masks:
        writer.write(mask)
    writer.close()
    assert writer.count == 6
    if target.endswith(".avi"):
        read = decode_with_opencv(tmp_path / target)[..., 0] > 127
    else:
        files = sorted((tmp_path / target).iterdir())
        read = np.stack([cv2.imread(str(p), cv2.IMREAD_UNCHANGED) > 127 for p in files])
    np.testing.assert_array_equal(read, masks)
