"""One progress type, and driving progress generators."""

from napari_gmm_background.core.progress import Progress, relay, renumber, run_to_end


def counting(n, result):
    for i in range(n):
        yield Progress(10 * (i + 1), 10 * n)
    return result


def test_progress_fraction_and_stage():
    assert Progress(1, 4).fraction == 0.25 and Progress(0, 0).fraction == 1.0
    assert Progress(1, 4).stage == "" and Progress(1, 4, "decode").stage == "decode"


def test_run_to_end_returns_the_value():
    assert run_to_end(counting(3, "done")) == "done"


def test_relay_names_the_stage():
    generator = relay(counting(2, 7), "fit")
    assert [next(generator), next(generator)] == [Progress(10, 20, "fit"), Progress(20, 20, "fit")]
    assert run_to_end(generator) == 7


def test_renumber_counts_steps_over_several_generators():
    def both():
        first = yield from counting(2, 1)
        second = yield from counting(3, 2)
        return first + second

    steps = []
    generator = renumber(both(), 5)
    while True:
        try:
            steps.append(next(generator))
        except StopIteration as stop:
            assert stop.value == 3
            break
    assert steps == [Progress(i, 5) for i in range(1, 6)]
