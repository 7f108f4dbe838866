"""A failing rank ends the whole job, non-zero, within 30 s, saying which rank and why."""
from __future__ import annotations

from . import launch

BOUND = 30


def test_exception_on_one_rank_aborts_every_rank():
    rc, out, err, seconds = launch.run(2, "raise")
    assert rc != 0 and seconds < BOUND, (rc, seconds, err)
    assert "deltaflow.distributed: rank 1 failed: ValueError: boom at step 3" in err, err
    assert "should not happen" not in out


def test_sigkill_of_one_rank_ends_the_job():
    # MPICH's launcher (hydra) sees the killed process and ends the others itself
    rc, out, err, seconds = launch.run(2, "kill")
    assert rc != 0 and seconds < BOUND, (rc, seconds, out, err)
    text = out + err
    assert "BAD TERMINATION" in text and "signal 9" in text, text
    assert "should not happen" not in out


def test_unused_parameter_is_an_error_naming_it():
    rc, out, err, seconds = launch.run(2, "unused")
    assert rc != 0 and seconds < BOUND, (rc, seconds, err)
    assert "rank 0 failed: RuntimeError: DistributedDataParallel: parameters that got no " \
           "gradient in this backward on rank 0: idle.weight, idle.bias" in err \
           or "rank 1 failed: RuntimeError: DistributedDataParallel: parameters that got " \
              "no gradient in this backward on rank 1: idle.weight, idle.bias" in err, err
    assert "find_unused_parameters=True" in err
