"""``deltaflow train`` SIGKILLed at random moments -- in start-up, in a step, in a
checkpoint's write or commit, in the final save -- and resumed after each kill ends with the
bits of a run never interrupted (:mod:`tests.reliability.harness`). Five kills per task
here; the slow test runs ``DELTAFLOW_KILLS`` (default 50) per task, all in one run, the
count docs/reliability.md records."""
import os

import pytest

from .harness import TASKS, available, campaign


def _campaign(task, kills, tmp_path, seed):
    why = available(task)
    if why:
        pytest.skip(why)
    result = campaign(task, kills, tmp_path / task, seed=seed)
    assert not result.failures, "\n".join(result.failures)
    assert result.kills == kills
    assert result.rounds >= 1 and result.bit_identical_rounds == result.rounds
    return result


@pytest.mark.parametrize("task", list(TASKS))
def test_five_kills_then_the_same_bits(task, tmp_path):
    _campaign(task, 5, tmp_path, seed=1)


@pytest.mark.long
@pytest.mark.parametrize("task", list(TASKS))
def test_many_kills_in_a_row_then_the_same_bits(task, tmp_path):
    kills = int(os.environ.get("DELTAFLOW_KILLS", "50"))
    result = _campaign(task, kills, tmp_path, seed=0)
    print(result.summary())
    # one run took every kill, most of them resumed from a checkpoint, then finished
    assert result.rounds == 1 and result.max_kills_in_a_round == kills, result.summary()
    assert result.resumes >= kills // 2, result.summary()
