"""TIFF stacks with their axes and calibration: ImageJ, OME, plain, and what OpenCV writes."""

import cv2
import numpy as np
import pytest
import tifffile

from napari_gmm_background.io.images import InputError, read_tiff_stack
from napari_gmm_background.io.tiff import Calibration, read_tiff, write_tiff


@pytest.fixture
def tczyx():
    rng = np.random.default_rng(0)
    return rng.integers(0, 4000, (3, 2, 4, 8, 9), dtype=np.uint16)  # T, C, Z, Y, X


def test_an_ome_tiff_keeps_its_axes_and_physical_sizes(tmp_path, tczyx):
    path = tmp_path / "stack.ome.tif"
    metadata = {"axes": "TCZYX", "PhysicalSizeX": 0.5, "PhysicalSizeY": 0.25}
    metadata |= {"PhysicalSizeZ": 2.0, "TimeIncrement": 30.0}
    tifffile.imwrite(path, tczyx, ome=True, metadata=metadata)
    stack = read_tiff(path)
    assert stack.axes == "TCZYX" and stack.time_axis == 0 and stack.frame_axes == "CZYX"
    np.testing.assert_array_equal(stack.data, tczyx)
    assert stack.calibration.pixel_size == (0.25, 0.5) and stack.calibration.z_spacing == 2.0
    assert stack.calibration.frame_interval == 30.0 and not stack.is_plain


def test_what_is_written_reads_back_as_imagej_in_its_order(tmp_path, tczyx):
    calibration = Calibration((0.25, 0.5), "µm", 2.0, 30.0)
    path = tmp_path / "out.tif"
    write_tiff(path, np.moveaxis(tczyx, 1, 2), "TZCYX", calibration)  # ImageJ's own order
    back = read_tiff(path)
    assert back.axes == "TZCYX"
    np.testing.assert_array_equal(back.data, np.moveaxis(tczyx, 1, 2))
    assert back.calibration == calibration
    with tifffile.TiffFile(path) as tif:
        assert tif.is_imagej and tif.pages[0].compression == 1  # uncompressed


def test_types_imagej_cannot_hold_keep_their_axes_and_pixel_size(tmp_path, tczyx):
    path = tmp_path / "signed.tif"
    write_tiff(path, tczyx.astype(np.int32) - 2000, "TCZYX", Calibration((0.25, 0.5), "µm"))
    back = read_tiff(path)
    assert back.axes == "TCZYX" and back.data.dtype == np.int32
    assert back.calibration.pixel_size == pytest.approx((0.25, 0.5))


def test_opencv_stacks_and_plain_stacks_are_frames(tmp_path):
    frames = np.arange(4 * 6 * 7 * 3, dtype=np.uint8).reshape(4, 6, 7, 3)
    assert cv2.imwritemulti(str(tmp_path / "cv.tif"), list(frames[..., ::-1]))  # LZW
    np.testing.assert_array_equal(read_tiff_stack(tmp_path / "cv.tif"), frames)
    tifffile.imwrite(tmp_path / "plain.tif", frames[..., 0], photometric="minisblack")
    stack = read_tiff(tmp_path / "plain.tif")
    assert stack.time_axis == 0 and stack.is_plain


def test_a_hyperstack_is_never_read_as_frames(tmp_path, tczyx):
    tifffile.imwrite(tmp_path / "h.tif", tczyx[:, 0], imagej=True, metadata={"axes": "TZYX"})
    with pytest.raises(InputError, match="TZYX stack, not one image per frame"):
        read_tiff_stack(tmp_path / "h.tif")
    tifffile.imwrite(tmp_path / "one.tif", tczyx[0, :, 0], imagej=True, metadata={"axes": "CYX"})
    with pytest.raises(InputError, match="no frames"):
        read_tiff_stack(tmp_path / "one.tif")
