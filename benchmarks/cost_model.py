"""Cost model of a data-parallel training step: compute, bucketed ring all-reduce, overlap.

A step is forward (F), backward (B), then the optimizer (O). During backward each
parameter's gradient becomes ready at a measured fraction of B; DDP packs the gradients into
buckets in reverse registration order (closed once ``cap`` bytes full, as
``DistributedDataParallel`` does), and bucket k's all-reduce starts when its last gradient
is ready and bucket k−1's all-reduce has finished (one reduction at a time, in bucket
order). A ring all-reduce of n bytes on p processes over a link of latency α and bandwidth
β takes

    T(n, p) = 2(p−1)·α + 2(p−1)/p · n/β

(reduce-scatter then all-gather, each p−1 steps of n/p bytes; Thakur, Rabenseifner & Gropp,
"Optimization of collective communication operations in MPICH", IJHPCA 2005). What is still
running when backward ends is *exposed*:

    step = F + B + O + DDP's copies + max(0, finish of the last bucket − B)

With ``overlap=False`` (no reduction runs during backward) the exposed time is the sum of the
buckets' T. Weak scaling keeps the per-process batch, so the scaling efficiency on p
processes is step(1) / step(p), step(1) being the step without DDP.

``python -m benchmarks.cost_model`` prints the projection for the measured profiles in a
``python -m benchmarks.ddp --json`` file (see benchmarks/README.md).
"""
from __future__ import annotations

import argparse
import json
from dataclasses import dataclass, replace

import numpy as np

GBIT = 1e9 / 8          # bytes per second in one Gb/s
MIB = 2 ** 20


@dataclass(frozen=True)
class Link:
    """A network: latency ``alpha`` (s per message step) and bandwidth ``beta`` (bytes/s)."""
    name: str
    alpha: float
    beta: float


# Cluster links for the projections: nominal line rate as β (an upper bound: MPI reaches
# ~90-95% of it on large messages) and α = 5 µs, the small-message MPI latency of RDMA
# (RoCE / InfiniBand: 1-3 µs one way in the OSU latency benchmark; kernel TCP over Ethernet
# is 10-30 µs, so α is optimistic there; the bandwidth term dominates for these messages).
ALPHA_CLUSTER = 5e-6
CLUSTER_LINKS = tuple(Link(f"{g} Gb/s", ALPHA_CLUSTER, g * GBIT) for g in (10, 25, 100))


@dataclass(frozen=True)
class Profile:
    """One process's measured step: ``forward``, ``backward``, ``optimizer`` in seconds;
    ``param_bytes[i]`` and ``ready[i]`` (the fraction of the backward after which parameter
    i's gradient is complete) in registration order; ``ddp_overhead``: what DDP adds on one
    process (copying the gradients into the buckets and the averages back)."""
    forward: float
    backward: float
    optimizer: float
    param_bytes: tuple
    ready: tuple
    ddp_overhead: float = 0.0

    @property
    def compute(self) -> float:
        return self.forward + self.backward + self.optimizer

    @property
    def grad_bytes(self) -> int:
        return int(sum(self.param_bytes))

    def slowed(self, factor: float) -> Profile:
        """The same step with every phase ``factor`` times longer (a rank that shares its
        cores with others, time-sliced)."""
        return replace(self, forward=self.forward * factor, backward=self.backward * factor,
                       optimizer=self.optimizer * factor,
                       ddp_overhead=self.ddp_overhead * factor)

    @classmethod
    def from_dict(cls, d: dict) -> Profile:
        return cls(d["forward"], d["backward"], d["optimizer"], tuple(d["param_bytes"]),
                   tuple(d["ready"]), d.get("ddp_overhead", 0.0))


@dataclass(frozen=True)
class Prediction:
    compute: float        # F + B + O (+ DDP's copies when p > 1)
    comm: float           # every bucket's all-reduce, one after the other
    exposed: float        # the part of comm not hidden behind backward
    buckets: int

    @property
    def step(self) -> float:
        return self.compute + self.exposed


def ring_allreduce_time(nbytes: float, p: int, alpha: float, beta: float) -> float:
    """T(n, p) = 2(p−1)α + 2(p−1)/p · n/β; 0 on one process."""
    if p <= 1:
        return 0.0
    return 2 * (p - 1) * alpha + 2 * (p - 1) / p * nbytes / beta


def fit_alpha_beta(samples) -> dict:
    """Least-squares α, β of ``ring_allreduce_time`` from ``(p, nbytes, seconds)`` samples,
    each residual relative to its measured time (so 1 KB counts as much as 64 MB). Returns
    ``alpha``, ``beta``, and the fit error: ``rms_rel_err``, ``max_rel_err``."""
    p, n, t = (np.asarray(v, dtype=float) for v in zip(*samples))
    design = np.stack([2 * (p - 1), 2 * (p - 1) / p * n], axis=1) / t[:, None]
    (alpha, inv_beta), *_ = np.linalg.lstsq(design, np.ones_like(t), rcond=None)
    rel = design @ [alpha, inv_beta] - 1
    return {"alpha": float(alpha), "beta": float(1 / inv_beta),
            "rms_rel_err": float(np.sqrt(np.mean(rel ** 2))),
            "max_rel_err": float(np.max(np.abs(rel)))}


def buckets(param_bytes, cap_bytes: float) -> list[list[int]]:
    """Parameter indices per bucket: reverse registration order, a bucket closed once it
    holds ``cap_bytes`` (DistributedDataParallel's rule, one dtype)."""
    done, members, size = [], [], 0
    for i in reversed(range(len(param_bytes))):
        members.append(i)
        size += param_bytes[i]
        if size >= cap_bytes:
            done.append(members)
            members, size = [], 0
    return done + ([members] if members else [])


def predict(profile: Profile, p: int, alpha: float, beta: float, cap_bytes: float,
            overlap: bool = True) -> Prediction:
    """The step on ``p`` processes with DDP (``p == 1``: the plain step, no DDP)."""
    if p <= 1:
        return Prediction(profile.compute, 0.0, 0.0, 0)
    finish, comm = 0.0, 0.0
    groups = buckets(profile.param_bytes, cap_bytes)
    for members in groups:
        ready = profile.backward * max(profile.ready[i] for i in members) if overlap \
            else profile.backward
        t = ring_allreduce_time(sum(profile.param_bytes[i] for i in members), p, alpha, beta)
        finish = max(ready, finish) + t
        comm += t
    exposed = max(0.0, finish - profile.backward)
    return Prediction(profile.compute + profile.ddp_overhead, comm, exposed, len(groups))


def efficiency(profile: Profile, p: int, link: Link, cap_bytes: float = 25 * MIB) -> float:
    """Weak-scaling efficiency: the one-process step over the p-process step."""
    return (predict(profile, 1, link.alpha, link.beta, cap_bytes).step
            / predict(profile, p, link.alpha, link.beta, cap_bytes).step)


PROJECTED_P = (8, 16, 32, 64, 128, 256)


def projection_table(profiles: dict, links=CLUSTER_LINKS, ps=PROJECTED_P,
                     cap_bytes: float = 25 * MIB) -> str:
    """Markdown: projected weak-scaling efficiency per workload, link and process count."""
    head = "| workload | compute/step | gradients | link | " + " | ".join(
        f"p={p}" for p in ps) + " |"
    lines = [head, "|---|---:|---:|---|" + "---:|" * len(ps)]
    for name, prof in profiles.items():
        for link in links:
            effs = " | ".join(f"{efficiency(prof, p, link, cap_bytes):.0%}" for p in ps)
            lines.append(f"| {name} | {prof.compute * 1e3:.1f} ms | "
                         f"{prof.grad_bytes / MIB:.2f} MiB | {link.name} | {effs} |")
    return "\n".join(lines)


def plot_projection(profiles: dict, path, links=CLUSTER_LINKS, cap_bytes: float = 25 * MIB):
    """Efficiency against processes, one panel per link, with the published GPU figures."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ps = (1, 2, 4) + PROJECTED_P
    fig, axes = plt.subplots(1, len(links), figsize=(4.2 * len(links), 3.6), sharey=True)
    for ax, link in zip(axes, links):
        for name, prof in profiles.items():
            ax.plot(ps, [efficiency(prof, p, link, cap_bytes) for p in ps], marker="o",
                    label=f"{name} (CPU step {prof.compute * 1e3:.0f} ms)")
        ax.scatter([512], [0.90], marker="*", s=120, color="black",
                   label="Horovod, ResNet-101 GPU (2018)")
        ax.axhline(1.0, color="grey", lw=0.8, ls=":")
        ax.set_xscale("log", base=2)
        ax.set_title(f"{link.name}, α = {link.alpha * 1e6:.0f} µs")
        ax.set_xlabel("processes")
        ax.set_ylim(0, 1.05)
    axes[0].set_ylabel("weak-scaling efficiency (model)")
    axes[0].legend(fontsize=7, loc="lower left")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m benchmarks.cost_model",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("measured", help="JSON written by python -m benchmarks.ddp --json")
    parser.add_argument("--plot", help="write the projection plot (PNG) here")
    parser.add_argument("--bucket-mb", type=float, default=25)
    args = parser.parse_args(argv)
    with open(args.measured) as f:
        data = json.load(f)
    profiles = {name: Profile.from_dict(d) for name, d in data["cluster_profiles"].items()}
    print(projection_table(profiles, cap_bytes=args.bucket_mb * MIB))
    if args.plot:
        plot_projection(profiles, args.plot, cap_bytes=args.bucket_mb * MIB)


if __name__ == "__main__":
    main()
