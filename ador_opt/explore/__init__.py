"""Exploration: Optuna studies over the ADOR hardware template (DESIGN §7).

Optuna is imported here (and in `ador_opt.report`) only. The public names below are what the
CLI and the reports use; the storage layout is the study storage schema (docs/exploration.md).
"""

from ador_opt.explore.evaluate import EvalContext, PointResult, evaluate_point
from ador_opt.explore.parallel import RunSummary, drive
from ador_opt.explore.pareto import ParetoView, is_feasible, pareto_view
from ador_opt.explore.progress import StudyProgress, snapshot
from ador_opt.explore.space import SearchSpace, parse_space, realise
from ador_opt.explore.spec import SAMPLERS, StudySpec, load_spec, spec_hash, validate_spec
from ador_opt.explore.storage import default_store, open_storage, resolve_store
from ador_opt.explore.study import (
    StopFlag,
    adopt_unfinished,
    check_compatible,
    count_trials,
    create_or_open,
    load_study,
    make_sampler,
    only_study,
    quiet_optuna,
    run_trials,
    set_target_trials,
)
from ador_opt.redact import redact

__all__ = [
    "SAMPLERS",
    "EvalContext",
    "ParetoView",
    "PointResult",
    "RunSummary",
    "SearchSpace",
    "StopFlag",
    "StudyProgress",
    "StudySpec",
    "adopt_unfinished",
    "check_compatible",
    "count_trials",
    "create_or_open",
    "default_store",
    "drive",
    "evaluate_point",
    "is_feasible",
    "load_spec",
    "load_study",
    "make_sampler",
    "only_study",
    "open_storage",
    "pareto_view",
    "parse_space",
    "quiet_optuna",
    "realise",
    "redact",
    "resolve_store",
    "run_trials",
    "set_target_trials",
    "snapshot",
    "spec_hash",
    "validate_spec",
]
