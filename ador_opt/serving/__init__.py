"""Serving simulation: workloads, arrivals, continuous batching, metrics, capacity search."""

from ador_opt.serving.capacity import CapacityResult, find_capacity
from ador_opt.serving.metrics import LatencySummary, ServingReport
from ador_opt.serving.scheduler import Policy, SchedulerConfig
from ador_opt.serving.simulator import simulate, simulate_run
from ador_opt.serving.slo import Slo, default_slo, resolve_slo
from ador_opt.serving.workload import WORKLOAD_PRESETS, Workload, parse_workload, workload_preset

__all__ = [
    "WORKLOAD_PRESETS",
    "CapacityResult",
    "LatencySummary",
    "Policy",
    "SchedulerConfig",
    "ServingReport",
    "Slo",
    "Workload",
    "default_slo",
    "find_capacity",
    "parse_workload",
    "resolve_slo",
    "simulate",
    "simulate_run",
    "workload_preset",
]
