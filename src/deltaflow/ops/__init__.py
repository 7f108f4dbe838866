"""Primitive differentiable ops: one ``Function`` per op, forward + backward, nothing else."""
