"""Measured rows that contradict every model of their kind (listed, never dropped).

All-reduce: ring, tree and NVLS times all grow (weakly) with the payload and with the number
of devices on one link type, and NCCL runs the pair its tuner rates fastest, so a measured
all-reduce cannot be much slower than another of the same GPU with at least its payload and
at least its devices. A row that is (by more than `CONTRADICTION_RATIO`) contradicts any
NCCL cost model; which of the two rows is off cannot be told from the rows alone.
"""

from __future__ import annotations

from collections.abc import Sequence

from ador_opt.validate.cases import Case, Scenario

# Beyond run-to-run noise of a microsecond-scale NCCL timing.
CONTRADICTION_RATIO = 1.15


def contradicted_allreduce_rows(cases: Sequence[Case]) -> dict[str, str]:
    """All-reduce rows slower by > CONTRADICTION_RATIO than a row with ≥ payload and ≥ devices
    on the same GPU: {case_id: why}."""
    rows = [c for c in cases if c.scenario is Scenario.ALLREDUCE]
    out: dict[str, str] = {}
    for r in rows:
        for q in rows:
            if (
                q is not r
                and q.hardware == r.hardware
                and (q.message_bytes or 0) >= (r.message_bytes or 0)
                and q.tp >= r.tp
                and r.value > CONTRADICTION_RATIO * q.value
            ):
                out[r.case_id] = (
                    f"{r.case_id} {r.hardware} tp{r.tp} {r.message_bytes} B "
                    f"{r.value * 1e3:.0f} µs > {q.case_id} tp{q.tp} {q.message_bytes} B "
                    f"{q.value * 1e3:.0f} µs"
                )
                break
    return out
