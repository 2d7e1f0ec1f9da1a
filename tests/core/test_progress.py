"""One progress type, and driving progress generators."""

from napari_gmm_background.core.progress import Progress, run_to_end


def counting(n, result):
    for i in range(n):
        yield Progress(10 * (i + 1), 10 * n)
    return result


def test_progress_fraction_and_stage():
    assert Progress(1, 4).fraction == 0.25 and Progress(0, 0).fraction == 1.0
    assert Progress(1, 4).stage == "" and Progress(1, 4, "decode").stage == "decode"


def test_run_to_end_returns_the_value():
    assert run_to_end(counting(3, "done")) == "done"
