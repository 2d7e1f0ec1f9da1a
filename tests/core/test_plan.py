"""Plans: a run's steps fixed before it starts; what is counted is what is done."""

import pytest

from napari_gmm_background.core.plan import Plan, Step, sequence
from napari_gmm_background.core.progress import Progress

from ..helpers import drain


def recording(log, name, n, stage="fit", size=1):
    """A plan of ``n`` steps that log themselves, whose result is ``name``."""
    steps = [Step(lambda i=i: log.append((name, i)), stage, size) for i in range(n)]
    return Plan(steps, lambda: name)


def test_a_plan_yields_once_per_step_in_order_and_returns_its_result():
    log = []
    plan = recording(log, "a", 3)
    steps, result = drain(plan.run())
    assert plan.n_steps == len(steps) == 3 and result == "a"
    assert log == [("a", 0), ("a", 1), ("a", 2)]
    assert [(p.done, p.total) for p in steps] == [(1, 3), (2, 3), (3, 3)]


def test_stages_count_their_own_units():
    log = []
    plan = recording(log, "decode", 2, "decode", size=64).then(recording(log, "fit", 3))
    steps, result = drain(plan.run())
    assert result == "fit" and plan.n_steps == 5
    assert steps[1] == Progress(2, 5, "decode", 128, 128)
    assert steps[-1] == Progress(5, 5, "fit", 3, 3)


def test_a_closed_run_stops_between_steps():
    log = []
    run = recording(log, "a", 5).run()
    next(run)
    next(run)
    run.close()
    assert log == [("a", 0), ("a", 1)]


def test_sequence_takes_each_result_when_its_plan_ends():
    log, taken = [], []

    def taking(name, n):
        plan = recording(log, name, n)
        return plan.map(lambda result: taken.append((result, len(log))) or result)

    plan = sequence([taking("a", 2), taking("b", 1)], combine=lambda results: "+".join(results))
    steps, result = drain(plan.run())
    assert len(steps) == plan.n_steps == 3 and result == "a+b"
    assert taken == [("a", 2), ("b", 3)]  # a's result taken right after its last step


def test_spread_over_does_every_step_in_exactly_that_many():
    log = []
    plan = recording(log, "a", 7, size=2)
    spread = plan.spread_over(3)
    assert len(spread) == 3 and sum(step.size for step in spread) == 14
    for step in spread:
        step.action()
    assert log == [("a", i) for i in range(7)]
    with pytest.raises(ValueError, match="cannot spread"):
        plan.spread_over(8)


def test_a_replanned_run_counts_the_new_plan():
    log = []
    plan = recording(log, "decode", 2, "decode")
    fit = recording(log, "fit", 4)
    plan = plan.then(fit)
    shorter = recording(log, "refit", 1)
    first_step = plan.steps[0].action

    def decode_and_replan():
        first_step()
        plan.replan(2, shorter)  # as when frames are lost: what remains is planned again

    plan.steps[0] = Step(decode_and_replan, "decode")
    steps, result = drain(plan.run())
    assert result == "refit" and len(steps) == 3
    assert [p.total for p in steps] == [3, 3, 3] and steps[-1].done == 3
    assert log == [("decode", 0), ("decode", 1), ("refit", 0)]
