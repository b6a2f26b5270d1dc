"""Result cache: identical design points are evaluated once per study.

Discrete spaces make samplers propose the same point again (30–50 % of suggestions late in a
study). A point's key is its ArchConfig content hash plus the scenario hash (`evaluate.cache_key`).
Two levels:

* in-process — a dict filled by this worker's evaluations;
* storage — on a miss, the COMPLETE trials of the study not yet scanned are indexed by their
  `cache_key` user attr, so results of other workers (and of earlier runs before a resume) are
  reused too.

A cached record is exactly what a trial stores (user attrs + objective values); a hit writes it
to the new trial with `cache_hit = True`.
"""

from __future__ import annotations

from typing import Any

# User attrs copied from a cached trial (everything but the per-trial bookkeeping).
RECORD_ATTRS = (
    "config",
    "area_mm2",
    "cost_usd",
    "peak_tflops",
    "area_breakdown",
    "metrics",
    "rejected_by",
    "constraints",
    "reason",
)


class ResultCache:
    """Maps cache keys to records `{attr: value, ..., "values": [objective values]}`."""

    def __init__(self) -> None:
        self._records: dict[str, dict[str, Any]] = {}
        self._scanned: set[int] = set()
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        return len(self._records)

    def put(self, key: str, record: dict[str, Any]) -> None:
        self._records.setdefault(key, record)

    def feasible_values(self) -> tuple[tuple[float, ...], ...]:
        """Objective values of the feasible designs known to this cache (this worker's and,
        after a scan, the storage's)."""
        return tuple(
            tuple(float(v) for v in r["values"])
            for r in self._records.values()
            if r.get("rejected_by") == ""
        )

    def capacity_ratios(self) -> tuple[tuple[dict[str, Any], float], ...]:
        """(config, capacity / saturation estimate) of the simulated designs known to this
        cache: the capacity search's warm start (`evaluate.capacity_start_scale`)."""
        out = []
        for r in self._records.values():
            ratio = r.get("metrics", {}).get("capacity_ratio")
            if ratio is not None and ratio > 0 and isinstance(r.get("config"), dict):
                out.append((r["config"], float(ratio)))
        return tuple(out)

    def get(self, key: str, study: Any = None) -> dict[str, Any] | None:
        record = self._records.get(key)
        if record is None and study is not None:
            self._scan(study)
            record = self._records.get(key)
        if record is None:
            self.misses += 1
        else:
            self.hits += 1
        return record

    def _scan(self, study: Any) -> None:
        from optuna.trial import TrialState

        for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
            if t.number in self._scanned:
                continue
            self._scanned.add(t.number)
            key = t.user_attrs.get("cache_key")
            if key and all(a in t.user_attrs for a in RECORD_ATTRS) and t.values is not None:
                record = {a: t.user_attrs[a] for a in RECORD_ATTRS}
                record["values"] = list(t.values)
                self._records.setdefault(key, record)
