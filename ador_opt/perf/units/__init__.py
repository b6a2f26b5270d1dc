"""Compute units of the HDA template behind one interface (`base.ComputeUnit`)."""

from ador_opt.perf.units.base import ComputeUnit, UnitWork, Work, WorkKind
from ador_opt.perf.units.mac_tree import MAC_TREE
from ador_opt.perf.units.systolic_array import SYSTOLIC_ARRAY
from ador_opt.perf.units.vector_unit import VECTOR_UNIT

__all__ = [
    "MAC_TREE",
    "SYSTOLIC_ARRAY",
    "VECTOR_UNIT",
    "ComputeUnit",
    "UnitWork",
    "Work",
    "WorkKind",
]
