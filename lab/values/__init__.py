"""Labour values: the total labour embodied in a unit of each product (MATH.md §2).

An :class:`~lab.Economy` goes in; :func:`labour_values` (one call) or
:class:`ValueSolver` (set up once, solve many right-hand sides) solves
v = l + Aᵀv and returns a :class:`ValuesResult` carrying its own proof: the
residual recomputed from A, the iteration history and the productivity bound.

Data flow: ``_solver`` picks the method and runs the iterations on the kernels
chosen by :mod:`lab._ops`; ``_krylov`` is BiCGSTAB on the fused kernels (and the
float32 refinement); ``_structure`` finds the strongly connected components of the
input graph (the block-triangular order that the ``blocks`` method solves by
substitution) and proves or refutes ρ(A) < 1; ``_update`` applies real-time changes
to a :class:`ValueSolver` (:meth:`ValueSolver.update`); ``_techniques`` finds the
cheapest technique of every product of a planning problem by policy iteration on a
:class:`ValueSolver` (``labour_values(problem)``).
"""

from lab.values._solver import (
    METHODS,
    Status,
    ValueSolver,
    ValuesOptions,
    ValuesResult,
    labour_values,
)

__all__ = ["METHODS", "Status", "ValueSolver", "ValuesOptions", "ValuesResult", "labour_values"]
