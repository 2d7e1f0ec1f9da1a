import numpy as np
import pytest

from napari_gmm_background import extract_background
from napari_gmm_background.datasets import synthetic_timelapse, synthetic_traffic
from napari_gmm_background.io import read_video, read_video_dask

from ..helpers import write_video

da = pytest.importorskip("dask.array")


@pytest.mark.parametrize("chunks", [(7, 10, 16, 3), (40, 5, 64, 1), "auto"])
def test_dask_input_gives_a_lazy_equal_result(chunks):
    frames, _ = synthetic_traffic(n_frames=40, height=30, width=64, seed=6)
    lazy = extract_background(da.from_array(frames, chunks=chunks))
    assert isinstance(lazy, da.Array) and lazy.shape == (30, 64, 3) and lazy.dtype == np.uint8
    np.testing.assert_array_equal(lazy.compute(), extract_background(frames))


def test_dask_input_with_another_time_axis_and_dtype():
    frames, _ = synthetic_timelapse(n_frames=24, height=20, width=20, seed=3)
    zt = np.stack([frames, frames[::-1]])  # Z, T, Y, X
    lazy = extract_background(da.from_array(zt, chunks=(1, 5, 10, 10)), time_axis=1)
    np.testing.assert_array_equal(lazy.compute(), extract_background(zt, time_axis=1))


def test_dask_input_errors_early():
    with pytest.raises(ValueError, match="out of range"):
        extract_background(da.zeros((4, 4), chunks=2), time_axis=3)
    with pytest.raises(ValueError, match="n_components"):
        extract_background(da.zeros((4, 4), chunks=2), n_components=0)


def test_video_as_dask_on_a_two_worker_cluster(tmp_path):
    distributed = pytest.importorskip("distributed")
    frames, _ = synthetic_traffic(n_frames=36, height=48, width=64, seed=7)
    path = write_video(tmp_path / "clip.avi", frames)
    expected = extract_background(read_video(path))
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    ) as cluster:
        with distributed.Client(cluster) as client:
            assert len(client.scheduler_info()["workers"]) == 2
            video = read_video_dask(path, frames_per_chunk=6)
            background = extract_background(video.rechunk({1: 16})).compute()
    np.testing.assert_array_equal(background, expected)


def test_methods_reading_in_blocks_run_one_task_per_stack_without_rechunking():
    frames, _ = synthetic_timelapse(n_frames=24, height=20, width=20, seed=3)
    zt = np.stack([frames, frames[::-1]])  # Z, T, Y, X
    for method in ("gmm", "motionless"):
        lazy = extract_background(
            da.from_array(zt, chunks=(1, 5, 10, 10)), time_axis=1, method=method
        )
        graph = lazy.__dask_graph__()
        assert list(graph.layers) == [lazy.name] and len(graph) == 2  # a task per Z slice
        assert lazy.chunks == ((1, 1), (20,), (20,))
        np.testing.assert_array_equal(
            lazy.compute(), extract_background(zt, time_axis=1, method=method)
        )
