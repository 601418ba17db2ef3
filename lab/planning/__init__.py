"""Harmony-balanced plans: technique intensities scored by Cockshott's harmony (MATH.md §3).

A :class:`PlanningProblem` (an economy or use/make/resource matrices, with targets,
availabilities, capacities and stocks) goes into :func:`plan`, which returns a
:class:`PlanResult`: a feasible plan, its shadow prices and a certified duality gap.
A :class:`MultiYearProblem` (years of an economy linked by capital stocks,
investment and depreciation, MATH.md §4) goes into the same :func:`plan` and comes
back as a :class:`MultiYearResult`.

Data flow: ``_problem`` validates the model once (``_weights`` gives it balanced
weights); ``_multiyear`` writes a multi-year plan as one year-indexed problem;
``_solve`` picks a route and assembles the result (``_scale`` moves the general
route to unit-free internal units and back). The routes are ``_exact`` (closed form
through labour values when the problem decouples), ``_choice`` (exact with technique
choice where its plan meets any capacities: policy iteration, cutting planes over
resource prices), ``_lp`` (HiGHS where those stop, up to 20,000 techniques),
``_pdhg`` (restarted Halpern PDHG, the general method) and ``_cockshott`` (the published
heuristic). Every iterate of the general method passes through ``_certificate``, which
repairs it into a feasible plan and bounds the optimum by weak duality (``_polish``
sharpens that bound from the iterate's active set); ``_harmony`` holds H, its
derivatives and the proximal steps the routes share.

The folder is named ``planning`` because ``lab.plan`` is the public function.
"""

from lab.planning._cockshott import CockshottOptions
from lab.planning._multiyear import MultiYearProblem, MultiYearResult
from lab.planning._problem import PlanningProblem
from lab.planning._solve import METHODS, PlanOptions, PlanResult, PlanStatus, plan

__all__ = ["METHODS", "CockshottOptions", "MultiYearProblem", "MultiYearResult", "PlanOptions",
           "PlanResult", "PlanStatus", "PlanningProblem", "plan"]
