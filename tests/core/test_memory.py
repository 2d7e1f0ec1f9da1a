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
