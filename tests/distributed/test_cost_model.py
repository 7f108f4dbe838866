"""The DDP cost model's arithmetic (benchmarks/cost_model.py) on hand-made inputs: no timing."""
from __future__ import annotations

import importlib
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))   # the repository root
cm = importlib.import_module("benchmarks.cost_model")

MS = 1e-3


def profile(ready, nbytes, forward=2 * MS, backward=6 * MS, optimizer=1 * MS, overhead=0.0):
    return cm.Profile(forward, backward, optimizer, tuple(nbytes), tuple(ready), overhead)


def test_ring_formula():
    alpha, beta = 5e-6, 1e9
    assert cm.ring_allreduce_time(1e6, 1, alpha, beta) == 0
    assert cm.ring_allreduce_time(1e6, 2, alpha, beta) == pytest.approx(2 * alpha + 1e-3)
    assert cm.ring_allreduce_time(4e6, 4, alpha, beta) == pytest.approx(6 * alpha + 6e-3)
    # the bandwidth term tends to 2n/β, the latency term grows linearly in p
    assert cm.ring_allreduce_time(1e6, 1000, 0, beta) == pytest.approx(2e-3 * 999 / 1000)


def test_fit_recovers_alpha_beta():
    alpha, beta = 3e-6, 6e9
    samples = [(p, n, cm.ring_allreduce_time(n, p, alpha, beta))
               for p in (2, 4) for n in (2 ** k for k in range(10, 27, 2))]
    fit = cm.fit_alpha_beta(samples)
    assert fit["alpha"] == pytest.approx(alpha, rel=1e-9)
    assert fit["beta"] == pytest.approx(beta, rel=1e-9)
    assert fit["rms_rel_err"] < 1e-9 and fit["max_rel_err"] < 1e-9


def test_buckets_reverse_order_closed_at_cap():
    # DDP's rule: reverse registration order, a bucket closes once it holds >= cap
    assert cm.buckets([4, 4, 4, 4], 8) == [[3, 2], [1, 0]]
    assert cm.buckets([4, 4, 4], 8) == [[2, 1], [0]]
    assert cm.buckets([10, 1, 1], 8) == [[2, 1, 0]]
    assert cm.buckets([1, 2, 3], 1e9) == [[2, 1, 0]]


def test_one_process_is_the_plain_step():
    prof = profile([1.0, 0.5], [1e6, 1e6], overhead=5 * MS)
    pred = cm.predict(prof, 1, 1e-6, 1e9, 1e9)
    assert (pred.step, pred.comm, pred.exposed) == (pytest.approx(9 * MS), 0, 0)


def test_no_overlap_possible_adds_the_communication():
    # one bucket, ready only when backward ends: step = compute + T
    prof = profile([1.0, 1.0], [1e6, 1e6])
    t = cm.ring_allreduce_time(2e6, 4, 1e-5, 1e9)
    pred = cm.predict(prof, 4, 1e-5, 1e9, cap_bytes=1e9)
    assert pred.buckets == 1
    assert pred.comm == pytest.approx(t) and pred.exposed == pytest.approx(t)
    assert pred.step == pytest.approx(9 * MS + t)


def test_perfectly_hidden_communication_costs_nothing():
    # the big bucket (last layer) is ready at 10 % of the 6 ms backward and takes 0.5 ms; the
    # first layer's 8 bytes, ready when backward ends, are all that is exposed
    prof = profile([1.0, 0.1], [8, 1e6])
    pred = cm.predict(prof, 2, 0.0, 2e9, cap_bytes=1e6)
    assert pred.buckets == 2
    assert pred.exposed == pytest.approx(8 / 2e9)
    prof = profile([0.5, 0.1], [1e6, 1e6])
    assert cm.predict(prof, 2, 0.0, 2e9, cap_bytes=1e6).exposed == 0
    assert cm.predict(prof, 2, 0.0, 2e9, cap_bytes=1e6).step == pytest.approx(9 * MS)


def test_buckets_queue_behind_each_other():
    # both buckets ready at once at 10 % of the 6 ms backward; each takes 4 ms, one after the
    # other: finish 0.6 + 8 = 8.6 ms, exposed 2.6 ms
    prof = profile([0.1, 0.1], [1e6, 1e6])
    pred = cm.predict(prof, 2, 0.0, 0.25e9, cap_bytes=1e6)
    assert pred.comm == pytest.approx(8 * MS)
    assert pred.exposed == pytest.approx(2.6 * MS)
    no_overlap = cm.predict(prof, 2, 0.0, 0.25e9, cap_bytes=1e6, overlap=False)
    assert no_overlap.exposed == pytest.approx(8 * MS)


def test_overhead_and_slowdown():
    prof = profile([1.0], [1e6], overhead=1 * MS)
    assert cm.predict(prof, 2, 0.0, 1e12, 1e9).compute == pytest.approx(10 * MS)
    slow = prof.slowed(2.0)
    assert (slow.compute, slow.ddp_overhead) == (pytest.approx(18 * MS), pytest.approx(2 * MS))
    assert slow.ready == prof.ready and slow.grad_bytes == 1_000_000


def test_efficiency():
    prof = profile([1.0], [1.25e9 * 9 * MS / 2])       # ring bandwidth term = compute at p→∞
    link = cm.Link("10 Gb/s", 0.0, 10 * cm.GBIT)
    assert cm.efficiency(prof, 2, link) == pytest.approx(9 / (9 + 9 / 2))
    assert cm.efficiency(profile([1.0], [0]), 256, cm.Link("x", 0.0, 1e9)) == 1.0
    table = cm.projection_table({"tiny": prof}, ps=(8,))
    assert "| tiny |" in table and "10 Gb/s" in table
