"""The ADOR paper's own search (§V) as an Optuna sampler — the baseline for the benchmarks.

Step 1 (compute and on-chip memory, §V-A/B):
  * MAC tree first, sized to consume the weights DRAM delivers each cycle:
    `MT MACs ≥ (dram_gbps / f) / bytes_per_weight · g`, where `g` = query heads per KV head
    (GQA/MQA reuse each fetched KV element g times). The paper's formula is an image missing
    from our copy; this is our reading of its text ("enough compute units to process weights
    fetched from memory bandwidth each cycle", adjusted for GQA/MQA/MoE reuse).
  * The rest of the area budget to systolic arrays: the (array size, core count) pair with the
    most SA MACs that fits the budget, arrays in multiples of 32 — each candidate pair with
    its own MAC-tree lanes (the MACs above are per device, lanes per core) and local SRAM.
  * Local SRAM: the smallest allowed value holding one token's activations; the rest of the
    SRAM budget becomes global SRAM (derived by the space).
Step 2 (§V-C): the smallest NoC bandwidth ≥ the DRAM bandwidth (weights stream through the NoC
  to the cores, so it must keep up for compute and transfer to overlap); the smallest P2P
  bandwidth ≥ 32 GB/s with TP (the paper: ≈ 32 GB/s suffices), Megatron sync at 2 devices and
  all-gather at ≥ 4 (Fig. 13); the smallest TP group whose DRAM holds the model.
Step 3 (§V-D): evaluate (the serving simulation or static batch of the spec), then iterate:
  an SLO violation moves resources to the MAC tree (one more lane step, systolic arrays
  re-fitted to the budget); a feasible design tries the opposite trade for throughput. When no
  trade improves, single-parameter neighbour moves continue the local search; when every
  neighbour of the incumbent is known, the sampler falls back to random points.

Proposals are deterministic functions of the study's history (plus `seed` for the fallback).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import optuna
from optuna.distributions import BaseDistribution
from optuna.samplers import BaseSampler, RandomSampler
from optuna.trial import FrozenTrial, TrialState

from ador_opt.errors import InputError
from ador_opt.explore.space import MIN_GLOBAL_SRAM_MIB, Param, SearchSpace, design_key, realise
from ador_opt.explore.spec import StudySpec
from ador_opt.hardware import area_breakdown, cost_breakdown
from ador_opt.hardware.arch import ArchConfig
from ador_opt.perf.memory import local_sram_need_kib, weight_bytes_per_device

PAPER_P2P_GBPS = 32.0  # ADOR §V-C: ≈ 32 GB/s (PCIe 4.0 ×16) hides TP communication
MT_WIDTH_DEFAULT = 16  # ADOR design: 16-input MAC-tree lanes (§VI table), when none is given


def _snap_up(p: Param, want: float) -> Any:
    """Smallest allowed value ≥ want (the largest when none is)."""
    numeric = sorted(p.values)
    return next((v for v in numeric if v >= want), numeric[-1])


class StepwisePlanner:
    """Pure planning logic (no Optuna state): initial design and neighbour moves."""

    def __init__(self, spec: StudySpec) -> None:
        self.spec = spec
        self.space: SearchSpace = spec.space
        self.sampled = {p.name: p for p in self.space.sampled}

    # --- helpers --------------------------------------------------------------------------
    def _value(self, params: dict[str, Any], name: str) -> Any:
        if name in params:
            return params[name]
        real = realise(self.space, params)
        field = {"sa_dim": "sa_rows", "total_sram_mib": "global_sram_mib"}.get(name, name)
        return real.fields.get(field)

    def fits_budget(self, params: dict[str, Any]) -> bool:
        real = realise(self.space, params)
        if real.arch is None:
            return False
        budget = self.spec.file.budget
        if budget.area_mm2 is not None and area_breakdown(real.arch).total_mm2 > budget.area_mm2:
            return False
        return budget.cost_usd is None or cost_breakdown(real.arch).total_usd <= budget.cost_usd

    def _sa_names(self) -> list[str]:
        return [n for n in ("sa_dim", "sa_rows", "sa_cols", "core_count") if n in self.sampled]

    def _sa_macs(self, params: dict[str, Any]) -> float:
        real = realise(self.space, params)
        f = real.fields
        return float(f["core_count"] * f["sa_rows"] * f["sa_cols"] * f["sa_per_core"])

    def refit_sa(self, params: dict[str, Any], size_mt: bool = False) -> dict[str, Any]:
        """Give the systolic arrays the most MACs that fit the budget. Each candidate (array
        size, core count) gets its own local SRAM (`fit_sram`) and, with `size_mt`, its own
        MAC-tree lanes (`size_mac_tree`); otherwise the lanes stay as given."""
        names = self._sa_names()
        if not names:
            return self.fit_sram(self.size_mac_tree(params) if size_mt else params)
        best: tuple[float, float, dict[str, Any]] | None = None
        combos: list[dict[str, Any]] = [{}]
        for n in names:
            combos = [{**c, n: v} for c in combos for v in self.sampled[n].values]
        for combo in combos:
            cand = {**params, **combo}
            if size_mt:
                cand = self.size_mac_tree(cand)
            cand = self.fit_sram(cand)
            if not self.fits_budget(cand):
                continue
            # Tie-break: fewer cores (less NoC traffic for the same MACs).
            score = (self._sa_macs(cand), -float(self._value(cand, "core_count")))
            if best is None or score > best[:2]:
                best = (*score, cand)
        return best[2] if best is not None else params

    def size_mac_tree(self, params: dict[str, Any]) -> dict[str, Any]:
        """MAC tree first (§V-A): enough MACs to consume one cycle of DRAM weights, times the
        GQA/MQA reuse of each fetched KV element; lanes rounded up to an allowed value."""
        if "mt_lanes" not in self.sampled:
            return params
        freq_hz = float(self._value(params, "freq_mhz")) * 1e6
        dram_gbps = float(self._value(params, "dram_gbps"))
        need = max(
            dram_gbps * 1e9 / freq_hz / m.bytes_per_weight * (m.num_heads / m.num_kv_heads)
            for m in self.spec.models
        )
        cores = float(self._value(params, "core_count"))
        width = float(self._value(params, "mt_width") or MT_WIDTH_DEFAULT)
        return {**params, "mt_lanes": _snap_up(self.sampled["mt_lanes"], need / (cores * width))}

    # --- step 1 + 2 ---------------------------------------------------------------------------
    def initial(self) -> dict[str, Any]:
        base = realise(self.space, {}).fields
        params: dict[str, Any] = {}
        for name, p in self.sampled.items():
            field = {"sa_dim": "sa_rows", "total_sram_mib": "global_sram_mib"}.get(name, name)
            current = base.get(field)
            params[name] = current if current in p.values else p.values[len(p.values) // 2]
        models = self.spec.models
        # Devices / TP: the smallest TP group whose DRAM holds the weights.
        dram_gib = float(self._value(params, "dram_gib"))
        need_tp = max(
            math.ceil(weight_bytes_per_device(m, 1) / (dram_gib * 1024**3 * 0.9)) for m in models
        )
        if "tp" in self.sampled:
            params["tp"] = _snap_up(self.sampled["tp"], need_tp)
        if "devices" in self.sampled:
            params["devices"] = _snap_up(self.sampled["devices"], self._value(params, "tp"))
        tp = int(self._value(params, "tp"))
        if "tp_sync" in self.sampled and tp > 1:
            want = "megatron" if tp == 2 else "all-gather"
            if want in self.sampled["tp_sync"].values:
                params["tp_sync"] = want
        if "p2p_gbps" in self.sampled and tp > 1:
            params["p2p_gbps"] = _snap_up(self.sampled["p2p_gbps"], PAPER_P2P_GBPS)
        # NoC ≥ DRAM bandwidth.
        if "noc_gbps" in self.sampled:
            params["noc_gbps"] = _snap_up(
                self.sampled["noc_gbps"], float(self._value(params, "dram_gbps"))
            )
        # MAC tree, then the rest to the systolic arrays, SRAM fitted per candidate.
        return self.refit_sa(params, size_mt=True)

    def fit_sram(self, params: dict[str, Any]) -> dict[str, Any]:
        """Local SRAM = the smallest allowed value (or budget share) holding one token's
        activations."""
        name = next(
            (n for n in ("local_sram_kib", "local_sram_fraction") if n in self.sampled), None
        )
        if name is None:
            return params
        values = self.sampled[name].values
        probe = {**params, name: max(values)}
        fields = realise(self.space, probe).fields
        try:
            arch = ArchConfig(**{**fields, "global_sram_mib": MIN_GLOBAL_SRAM_MIB})
        except InputError:
            return params
        need = max(local_sram_need_kib(arch, m, arch.tp) for m in self.spec.models)
        if name == "local_sram_fraction":
            total = float(self.space.field_values(params)["total_sram_mib"])
            need = need * arch.core_count / (total * 1024.0)
        return {**params, name: _snap_up(self.sampled[name], need)}

    # --- step 3: moves -------------------------------------------------------------------------
    def trades(self, params: dict[str, Any], towards_mt: bool) -> list[dict[str, Any]]:
        if "mt_lanes" not in self.sampled:
            return []
        values = list(self.sampled["mt_lanes"].values)
        i = values.index(params["mt_lanes"]) if params.get("mt_lanes") in values else 0
        j = i + 1 if towards_mt else i - 1
        if not 0 <= j < len(values):
            return []
        return [self.refit_sa({**params, "mt_lanes": values[j]})]

    def neighbours(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        out = []
        for name, p in self.sampled.items():
            values = list(p.values)
            if params.get(name) not in values:
                continue
            i = values.index(params[name])
            for j in (i - 1, i + 1):
                if 0 <= j < len(values):
                    out.append({**params, name: values[j]})
        return out


def _score(t: FrozenTrial, spec: StudySpec) -> tuple[float, float]:
    """Lower is better: (0, −primary objective in its direction) for feasible trials,
    (1, total violation) for infeasible ones."""
    if t.user_attrs.get("rejected_by", "x") == "" and t.values is not None:
        sign = -1.0 if spec.objectives[0].direction == "maximize" else 1.0
        return (0.0, sign * t.values[0])
    return (1.0, sum(v for v in t.constraints.values() if v > 0))


class StepwiseSampler(BaseSampler):
    """Optuna sampler proposing the paper's stepwise sequence (see the module docstring)."""

    def __init__(self, spec: StudySpec, seed: int | None = None) -> None:
        self._spec = spec
        self._planner = StepwisePlanner(spec)
        self._random = RandomSampler(seed=seed)
        self._dists = spec.space.distributions()

    def reseed_rng(self) -> None:
        self._random.reseed_rng()

    def infer_relative_search_space(
        self, study: optuna.Study, trial: FrozenTrial
    ) -> dict[str, BaseDistribution]:
        return dict(self._dists)

    def next_params(self, trials: Sequence[FrozenTrial]) -> dict[str, Any] | None:
        # Designs, not parameter tuples: a conditional parameter (tp_sync at tp = 1) is absent
        # from some trials and two proposals may realise to the same ArchConfig.
        space = self._spec.space
        seen = {design_key(space, t.params) for t in trials}
        done = [t for t in trials if t.state == TrialState.COMPLETE]
        start = self._planner.initial()
        if not done:
            return start if design_key(space, start) not in seen else None
        best = min(done, key=lambda t: (_score(t, self._spec), t.number))
        params = {**start, **best.params}
        stage = best.user_attrs.get("rejected_by", "")
        towards_mt = stage in ("roofline_slo", "serving_slo")
        candidates = [
            *self._planner.trades(params, towards_mt),
            *self._planner.trades(params, not towards_mt),
            *self._planner.neighbours(params),
        ]
        for cand in candidates:
            if design_key(space, cand) not in seen:
                return cand
        return None

    def sample_relative(
        self,
        study: optuna.Study,
        trial: FrozenTrial,
        search_space: dict[str, BaseDistribution],
    ) -> dict[str, Any]:
        states = (TrialState.COMPLETE, TrialState.RUNNING, TrialState.WAITING)
        trials = [
            t for t in study.get_trials(deepcopy=False, states=states) if t.number != trial.number
        ]
        proposal = self.next_params(trials)
        return proposal if proposal is not None else {}

    def sample_independent(
        self,
        study: optuna.Study,
        trial: FrozenTrial,
        param_name: str,
        param_distribution: BaseDistribution,
    ) -> Any:
        return self._random.sample_independent(study, trial, param_name, param_distribution)
