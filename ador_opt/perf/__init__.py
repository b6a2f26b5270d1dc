"""Performance: the time of one serving step on the HDA template or a GPU."""

from ador_opt.perf.result import StepTime
from ador_opt.perf.static import StaticBatchResult, evaluate_static_batch
from ador_opt.perf.step import step_time

__all__ = ["StaticBatchResult", "StepTime", "evaluate_static_batch", "step_time"]
