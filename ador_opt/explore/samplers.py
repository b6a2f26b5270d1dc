"""Samplers of a study: the spec's choice, seeded from the study's history, never repeating a
design.

* **Seeds from history.** `derive_seed(seed, n)` mixes the spec's seed with the number of trials
  the study already holds (and the caller adds the worker index), so `optimize` on an existing
  study and every `resume` start a new random stream instead of replaying the first one.
* **No repeated designs.** `NoRepeatSampler` wraps the spec's sampler and proposes whole points
  in `sample_relative`: it asks the wrapped sampler (its relative proposal, completed by its
  independent proposals for the other parameters) and, when the point realises to a design the
  study already holds (`space.design_key`: COMPLETE, RUNNING, WAITING or PRUNED trials), asks
  again — at most `MAX_RETRIES` times (0 by default, the measured best; the wrapped sampler's
  random state advances on every ask, so a model-based sampler draws again from the same
  model). A model that keeps proposing
  known designs has converged on them, so the proposal is then moved to the nearest unseen
  design: single-parameter steps to a neighbouring value, in random order, breadth-first up to
  `NEIGHBOUR_DEPTH` steps away (a local search around what the model wants). Failing that it
  draws uniformly among the unseen designs (`FALLBACK_DRAWS` random draws, and for spaces of at
  most `ENUMERATE_MAX` points an exact enumeration). When no unseen design is left the space is
  exhausted: the proposal is a repeat (a cache hit) and `exhausted` is set, which ends the run.
* **Front search** (the default TPE study; `local_share` > 0): from trial `local_after` on,
  that share of the proposals is the unseen neighbour of the study's current feasible front
  that a surrogate predicts to be least dominated (`frontsearch.propose`: a model-ranked
  Pareto local-search step). The default share and start (`FRONT_SHARE`, `FRONT_AFTER`) are
  measured in docs/bench-explore.md.
* The grid sampler is not wrapped (it enumerates its grid itself and ends when exhausted).

Infeasible trials are seen by the wrapped samplers through their constraints only (Optuna 5
reads every trial's `constraints:<name>` attrs): TPE splits them by total violation and NSGA-II
ranks them by constrained domination, neither reads their placeholder objective values
(`tests/test_explore_samplers.py` proves it by changing the placeholders).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any, cast

import numpy as np
import optuna
from optuna.distributions import BaseDistribution
from optuna.samplers import BaseSampler
from optuna.trial import FrozenTrial, TrialState

from ador_opt.explore import frontsearch
from ador_opt.explore.feasible_view import FeasibleView
from ador_opt.explore.space import SearchSpace, design_key

# Re-asks per trial before moving to a neighbour. Measured on the quickstart space
# (benchmarks/sampler_efficiency.py, docs/bench-explore.md, 5 seeds): with multivariate TPE
# (20 start-up trials) 0 re-asks — a repeat goes straight to its nearest unseen neighbour —
# gave a median 0.9986 of the exhaustive hypervolume at 200 trials and 50 % of the front at
# 300, against 0.9875 / 46 % with 1 re-ask, 0.9887 / 47 % with 2 and 0.9810 / 43 % with 6:
# a converged model re-proposes the same designs, the neighbour step is what finds new ones
# near its choice.
MAX_RETRIES = 0
NEIGHBOUR_DEPTH = 3  # single-parameter steps explored around a repeated proposal
NEIGHBOUR_FRONTIER = 256  # candidates kept per breadth-first level (bounds the cost)
FALLBACK_DRAWS = 256  # uniform draws tried before enumerating the space
ENUMERATE_MAX = 50_000  # spaces up to this many points are enumerated exactly when needed

# The default TPE study's Pareto local search (frontsearch.py): from trial FRONT_AFTER on,
# FRONT_SHARE of the proposals are the model-ranked unseen neighbour of the current front.
# Measured on the quickstart space (benchmarks/sampler_efficiency.py, docs/bench-explore.md):
# half the proposals after trial 50 found a median 56 % of the exhaustive front by 300 trials
# (TPE alone: 50 %) with 0.9993 of its hypervolume at 200; all of them after trial 100 or 150
# found 55 % but fell below 99 % of the hypervolume at 200.
FRONT_SHARE = 0.5
FRONT_AFTER = 50

SEEN_STATES = (TrialState.COMPLETE, TrialState.RUNNING, TrialState.WAITING, TrialState.PRUNED)


def derive_seed(seed: int, history: int, worker: int = 0) -> int:
    """A 31-bit seed from the spec's seed, the study's trial count and the worker index."""
    seq = np.random.SeedSequence([int(seed) & 0xFFFFFFFF, int(history), int(worker)])
    return int(seq.generate_state(1)[0] & 0x7FFFFFFF)


class NoRepeatSampler(BaseSampler):
    """Wraps `inner` so that every proposal is a design the study does not hold yet."""

    def __init__(
        self,
        inner: BaseSampler,
        space: SearchSpace,
        seed: int,
        local_share: float = 0.0,
        local_after: int = 20,
        feasible_only: bool = False,
    ) -> None:
        self.inner = inner
        # Show the wrapped sampler only feasible COMPLETE trials (feasible_view.py: for a
        # sampler that would fit infeasible trials' placeholder values, i.e. GP).
        self.feasible_only = feasible_only
        self.local_share = local_share
        self.local_after = local_after
        self.local = 0  # proposals that were neighbours of the current front
        self._model: frontsearch.FrontModel | None = None
        self.space = space
        self._rng = np.random.default_rng(seed)
        self._dists = space.distributions()
        self._keys: dict[int, str] = {}  # finished trial number → design key
        self.exhausted = False
        self.retries = 0  # re-asks because of a repeat (statistics)
        self.neighbours = 0  # proposals moved to an unseen neighbour
        self.fallbacks = 0  # proposals drawn uniformly among unseen designs

    # --- Optuna's sampler interface -------------------------------------------------------
    def reseed_rng(self) -> None:
        self.inner.reseed_rng()
        self._rng = np.random.default_rng()

    def infer_relative_search_space(
        self, study: optuna.Study, trial: FrozenTrial
    ) -> dict[str, BaseDistribution]:
        return dict(self._dists)

    def sample_relative(
        self, study: optuna.Study, trial: FrozenTrial, search_space: dict[str, BaseDistribution]
    ) -> dict[str, Any]:
        seen = self._seen(study, trial.number)
        # Parameters fixed by an enqueued trial (a retry of a killed trial keeps what it had
        # been given): Optuna takes them over any proposal, so the repeat check and the moves
        # to a neighbour must see them and leave them alone.
        pinned = {
            k: v for k, v in (trial.system_attrs.get("fixed_params") or {}).items()
            if k in self._dists
        }  # fmt: skip
        if pinned:
            return self._around_pinned(study, trial, pinned, seen)
        if (
            self.local_share > 0
            and trial.number >= self.local_after
            and self._rng.random() < self.local_share
        ):
            near = self._front_neighbour(study, trial, seen)
            if near is not None:
                self.local += 1
                return near
        point: dict[str, Any] = {}
        for attempt in range(MAX_RETRIES + 1):
            point = self._ask_inner(study, trial)
            if design_key(self.space, point) not in seen:
                return point
            if attempt < MAX_RETRIES:
                self.retries += 1
        near = self._neighbour(point, seen)
        if near is not None:
            self.neighbours += 1
            return near
        fresh = self._unseen(seen)
        if fresh is not None:
            self.fallbacks += 1
            return fresh
        self.exhausted = True
        return point

    def _around_pinned(
        self,
        study: optuna.Study,
        trial: FrozenTrial,
        pinned: dict[str, Any],
        seen: set[str],
    ) -> dict[str, Any]:
        """A proposal that keeps `pinned` and is unseen when any such design is left; else the
        repeat (a cache hit — never `exhausted`: other designs may still be unseen)."""
        point = self._complete({**self._ask_inner(study, trial), **pinned})
        if design_key(self.space, point) not in seen:
            return point
        near = self._neighbour(point, seen, frozen=pinned.keys())
        if near is not None:
            self.neighbours += 1
            return near
        for _ in range(FALLBACK_DRAWS):
            cand = self._complete({**self._random_point(), **pinned})
            if design_key(self.space, cand) not in seen:
                self.fallbacks += 1
                return cand
        return point

    def sample_independent(
        self,
        study: optuna.Study,
        trial: FrozenTrial,
        param_name: str,
        param_distribution: BaseDistribution,
    ) -> Any:
        return self.inner.sample_independent(study, trial, param_name, param_distribution)

    def before_trial(self, study: optuna.Study, trial: FrozenTrial) -> None:
        self.inner.before_trial(study, trial)

    def after_trial(
        self,
        study: optuna.Study,
        trial: FrozenTrial,
        state: TrialState,
        values: Sequence[float] | None,
    ) -> None:
        self.inner.after_trial(study, trial, state, values)

    # --- helpers --------------------------------------------------------------------------
    def _ask_inner(self, study: optuna.Study, trial: FrozenTrial) -> dict[str, Any]:
        """One whole point from the wrapped sampler (relative, then independent)."""
        if self.feasible_only:
            study = cast(optuna.Study, FeasibleView(study))
        inner_space = self.inner.infer_relative_search_space(study, trial)
        relative = self.inner.sample_relative(study, trial, inner_space) if inner_space else {}
        point: dict[str, Any] = {}
        fixed = self.space.fixed_values
        for p in self.space.ordered():
            if not self.space.active(p.name, {**fixed, **point}):
                continue
            if p.name in relative and p.name in inner_space:
                point[p.name] = relative[p.name]
            else:
                point[p.name] = self.inner.sample_independent(
                    study, trial, p.name, self._dists[p.name]
                )
        return point

    def _seen(self, study: optuna.Study, current: int) -> set[str]:
        keys: set[str] = set()
        for t in study.get_trials(deepcopy=False, states=SEEN_STATES):
            if t.number == current:
                continue
            key = self._keys.get(t.number)
            if key is None:
                key = design_key(self.space, t.params)
                if t.state.is_finished():
                    self._keys[t.number] = key
            keys.add(key)
        return keys

    def _front_neighbour(
        self, study: optuna.Study, trial: FrozenTrial, seen: set[str]
    ) -> dict[str, Any] | None:
        """The model-ranked unseen neighbour of the current feasible front
        (`frontsearch.propose`), once the study holds `local_after` trials before this one."""
        if trial.number < self.local_after:
            return None
        if self._model is None:
            self._model = frontsearch.FrontModel(self.space)
        trials = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
        maximise = [d.name == "MAXIMIZE" for d in study.directions]
        return frontsearch.propose(
            self.space, self._model, trials, maximise, seen, self._complete, self._rng
        )

    def _complete(self, point: dict[str, Any]) -> dict[str, Any]:
        """`point` with the parameters that do not exist there dropped and those that newly
        exist (a condition switched on) drawn at random."""
        out: dict[str, Any] = {}
        fixed = self.space.fixed_values
        for p in self.space.ordered():
            if not self.space.active(p.name, {**fixed, **out}):
                continue
            if p.name in point:
                out[p.name] = point[p.name]
            else:
                v = p.values[int(self._rng.integers(len(p.values)))]
                out[p.name] = v.item() if isinstance(v, np.generic) else v
        return out

    def _neighbour(
        self, point: dict[str, Any], seen: set[str], frozen: Collection[str] = ()
    ) -> dict[str, Any] | None:
        """The nearest unseen design by single-parameter steps (see the module doc), moving
        no parameter named in `frozen`."""
        params = {p.name: p for p in self.space.sampled if p.name not in frozen}
        visited = {design_key(self.space, point)}
        frontier = [point]
        for _ in range(NEIGHBOUR_DEPTH):
            level: list[dict[str, Any]] = []
            for here in frontier:
                moves = [(name, d) for name in here if name in params for d in (-1, 1)]
                for j in self._rng.permutation(len(moves)):
                    name, step = moves[int(j)]
                    values = params[name].values
                    i = _index(values, here[name]) + step
                    if not 0 <= i < len(values):
                        continue
                    v = values[i]
                    cand = self._complete(
                        {**here, name: v.item() if isinstance(v, np.generic) else v}
                    )
                    key = design_key(self.space, cand)
                    if key in visited:
                        continue
                    visited.add(key)
                    if key not in seen:
                        return cand
                    level.append(cand)
            if not level:
                return None
            order = self._rng.permutation(len(level))[:NEIGHBOUR_FRONTIER]
            frontier = [level[int(k)] for k in order]
        return None

    def _random_point(self) -> dict[str, Any]:
        point: dict[str, Any] = {}
        fixed = self.space.fixed_values
        for p in self.space.ordered():
            if self.space.active(p.name, {**fixed, **point}):
                v = p.values[int(self._rng.integers(len(p.values)))]
                point[p.name] = v.item() if isinstance(v, np.generic) else v
        return point

    def _unseen(self, seen: set[str]) -> dict[str, Any] | None:
        for _ in range(FALLBACK_DRAWS):
            point = self._random_point()
            if design_key(self.space, point) not in seen:
                return point
        if self.space.size > ENUMERATE_MAX:
            return None  # treated as exhausted: 256 uniform draws found nothing new
        fresh: list[dict[str, Any]] = []
        keys: set[str] = set()
        for point in self.space.points():
            key = design_key(self.space, point)
            if key not in seen and key not in keys:
                keys.add(key)
                fresh.append(point)
        if not fresh:
            return None
        return fresh[int(self._rng.integers(len(fresh)))]


def _index(values: tuple[Any, ...], value: Any) -> int:
    """Position of `value` among a parameter's values (the nearest one for numbers)."""
    if isinstance(value, str):
        return values.index(value)
    return min(range(len(values)), key=lambda j: abs(float(values[j]) - float(value)))


def make_sampler(spec: Any, seed: int, parallel: bool = False) -> BaseSampler:
    """The spec's sampler (`study.sampler`), wrapped in `NoRepeatSampler` except for grid."""
    name = spec.file.study.sampler
    samplers = optuna.samplers
    inner: BaseSampler
    if name == "grid":
        return samplers.GridSampler(spec.space.grid(), seed=seed)
    if name == "tpe":
        # Multivariate TPE models the joint density (SA size × cores × MAC tree interact through
        # the area budget); constant_liar keeps parallel workers from proposing the same point.
        # 20 start-up trials, then FRONT_SHARE of the proposals from trial FRONT_AFTER on are
        # model-ranked front neighbours (frontsearch.py; docs/bench-explore.md).
        inner = samplers.TPESampler(
            seed=seed, multivariate=True, constant_liar=parallel, n_startup_trials=20
        )
        return NoRepeatSampler(
            inner, spec.space, seed, local_share=FRONT_SHARE, local_after=FRONT_AFTER
        )
    elif name == "nsga2":
        inner = samplers.NSGAIISampler(seed=seed, population_size=30)
    elif name == "gp":
        inner = samplers.GPSampler(seed=seed)
    elif name == "random":
        inner = samplers.RandomSampler(seed=seed)
    else:
        from ador_opt.explore.stepwise import StepwiseSampler

        inner = StepwiseSampler(spec, seed=seed)
    # GP sees the study through a view without the infeasible trials: it would fit their
    # placeholders (feasible_view.py).
    return NoRepeatSampler(inner, spec.space, seed, feasible_only=name == "gp")
