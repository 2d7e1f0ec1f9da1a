"""The memory budget, read as dask reads sizes."""

import pytest

from napari_gmm_background.core.memory import memory_budget, parse_size


def test_memory_budget_setting(monkeypatch):
    monkeypatch.setenv("NAPARI_GMM_BACKGROUND_MEMORY_BUDGET", "1.5MiB")
    assert memory_budget() == int(1.5 * 2**20)
    monkeypatch.setenv("NAPARI_GMM_BACKGROUND_MEMORY_BUDGET", "2GB")
    assert memory_budget() == 2 * 10**9
    monkeypatch.setenv("NAPARI_GMM_BACKGROUND_MEMORY_BUDGET", "12345")
    assert memory_budget() == 12345
    monkeypatch.setenv("NAPARI_GMM_BACKGROUND_MEMORY_BUDGET", "lots")
    with pytest.raises(
        ValueError, match="NAPARI_GMM_BACKGROUND_MEMORY_BUDGET: 'lots' is not a size"
    ):
        memory_budget()
    monkeypatch.delenv("NAPARI_GMM_BACKGROUND_MEMORY_BUDGET")
    assert 0 < memory_budget()


@pytest.mark.parametrize("text", ["-5", "0", "nan", "inf", ""])
def test_sizes_that_are_no_budget_are_refused_by_name(text):
    with pytest.raises(ValueError, match="--memory-budget"):
        parse_size(text, "--memory-budget")


@pytest.mark.parametrize("shape", [(3, 4), (5, 1080, 1920, 3)])
def test_a_mapped_buffer_is_an_empty_array_of_zeros_that_can_be_written(shape):
    import numpy as np

    from napari_gmm_background.core.memory import empty_mapped

    buffer = empty_mapped(shape, np.uint8)
    assert buffer.shape == shape and buffer.dtype == np.uint8 and buffer.flags.writeable
    assert buffer.flags.c_contiguous
    if buffer.nbytes > 16 * 2**20:  # mapped whole, so zero where np.empty promises nothing
        assert not buffer.any()
    buffer[...] = 7
    assert (buffer == 7).all()
