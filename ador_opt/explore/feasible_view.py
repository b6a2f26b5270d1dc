"""A study as a wrapped sampler should see it when the sampler would fit infeasible trials'
placeholder values: every trial except the infeasible COMPLETE ones.

Why. Infeasible trials are stored COMPLETE with each objective's reference value as a
placeholder (`evaluate.placeholder_values`). TPE and NSGA-II rank them by their constraint
values alone, but Optuna 5's `GPSampler` fits its objective GPs on every COMPLETE trial
(checked in Optuna 5.1: `_sample_relative_impl` standardises `trial.values` of all of them), so a
placeholder would enter its surrogate as an observation. Behind this view GP models the
feasible trials only. The price: it sees no constraint violations, so it learns nothing about
where the infeasible region lies (its constraint GPs fit only feasible values); the engine's
pruning stages still reject such designs, and `NoRepeatSampler` never proposes one twice.
"""

from __future__ import annotations

from collections.abc import Container, Sequence
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from ador_opt.explore.pareto import is_feasible


def shown(trial: FrozenTrial) -> bool:
    """False for an infeasible COMPLETE trial, else True."""
    return trial.state != TrialState.COMPLETE or is_feasible(trial)


class FeasibleView:
    """Read access to `study` with the infeasible COMPLETE trials left out (module doc); every
    other attribute (directions, storage, ids) is the study's own."""

    def __init__(self, study: optuna.Study) -> None:
        self._study = study

    def __getattr__(self, name: str) -> Any:
        return getattr(self._study, name)

    def get_trials(
        self, deepcopy: bool = True, states: Container[TrialState] | None = None
    ) -> list[FrozenTrial]:
        return [t for t in self._study.get_trials(deepcopy, states) if shown(t)]

    def _get_trials(
        self,
        deepcopy: bool = True,
        states: Container[TrialState] | None = None,
        use_cache: bool = False,
    ) -> list[FrozenTrial]:
        trials = self._study._get_trials(deepcopy=deepcopy, states=states, use_cache=use_cache)
        return [t for t in trials if shown(t)]

    @property
    def trials(self) -> Sequence[FrozenTrial]:
        return self.get_trials()
