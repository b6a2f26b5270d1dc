"""`ArchConfig`: one point of the ADOR heterogeneous-dataflow (HDA) hardware template.

Field names are a contract (DESIGN §3): `--designs` lines, study specs and trial user attributes
use them. Units are in the names. Validation happens at construction and raises `InputError`.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from ador_opt.errors import InputError
from ador_opt.hardware import constants as c
from ador_opt.hardware.tech import DramType as DramType  # re-exported: defined in tech.py
from ador_opt.hardware.tech import LinkType as LinkType
from ador_opt.hardware.topology import DEFAULT_SCALE_OUT_GBPS, SCALE_OUT_LATENCY_S

SA_GRANULE = 32  # systolic-array dimensions come in multiples of 32 (ADOR paper §V-A)
# Small tensor-core-style arrays of the baselines (A100 and LLMCompass-L use 16×16 per sublane).
SA_SMALL_DIMS = (4, 8, 16)
# Assumption: no count of the template (cores, array rows, lanes, PHYs, devices) exceeds 2^31 - 1;
# larger integers are typos that would overflow the float area and timing formulas.
MAX_COUNT = 2**31 - 1
NS_PER_S = 1e9
# Per-format array MAC rates (MACs per PE per cycle relative to fp16), one field per format.
PACKED_RATE_FIELDS = (
    "int8_macs_per_fp16_mac",
    "fp8_macs_per_fp16_mac",
    "int4_macs_per_fp16_mac",
    "fp4_macs_per_fp16_mac",
)


class TpSync(StrEnum):
    """How tensor-parallel shards synchronise (ADOR paper §IV-D)."""

    ALL_GATHER = "all-gather"
    ALL_REDUCE = "all-reduce"
    MEGATRON = "megatron"


def _enum(enum_cls: type[StrEnum], value: Any, field: str) -> Any:
    try:
        return enum_cls(str(value).lower())
    except ValueError:
        allowed = ", ".join(e.value for e in enum_cls)
        raise InputError(f"{field}: unknown value {value!r}; allowed: {allowed}") from None


# Fields added by issue 17 and their defaults: left out of `canonical_key` at these values, so
# the content hash of every design that does not use them is what it was before.
_PARALLEL_DEFAULTS: dict[str, Any] = {
    "ep": 1,
    "pp": 1,
    "micro_batches": 0,
    "scale_up_devices": 0,
    "scale_out_gbps": DEFAULT_SCALE_OUT_GBPS,
    "scale_out_latency_us": SCALE_OUT_LATENCY_S * 1e6,
}


@dataclass(frozen=True, slots=True)
class ArchConfig:
    """Per-device HDA template. Per-core units: `sa_per_core` weight-stationary systolic arrays
    of `sa_rows`×`sa_cols` PEs, one MAC tree of `mt_lanes` lanes each reducing `mt_width`
    products per cycle, and a vector unit of `vector_width` FP32 lanes."""

    name: str = "custom"
    freq_mhz: float = 1500.0
    core_count: int = 32
    sa_rows: int = 64
    sa_cols: int = 64
    sa_per_core: int = 1
    # In-array weight double buffering: a second weight register per PE, so fold i+1's weights
    # shift in while fold i streams (perf/systolic.double_buffered; area: one register per PE).
    sa_weight_double_buffer: bool = False
    mt_width: int = 16
    mt_lanes: int = 16
    vector_width: int = 128
    local_sram_kib: float = 2048.0
    global_sram_mib: float = 16.0
    noc_gbps: float = 2048.0
    dram_type: DramType = DramType.HBM2E
    dram_gib: float = 80.0
    dram_gbps: float = 2000.0
    p2p_type: LinkType = LinkType.PCIE5
    p2p_gbps: float = 64.0
    devices: int = 1
    tp: int = 1
    tp_sync: TpSync = TpSync.ALL_GATHER
    # Expert and pipeline parallelism (perf/parallel.py, docs/parallelism.md): one model
    # replica spans tp · ep · pp devices; `devices` / (tp · ep · pp) replicas serve side by side
    # (data parallelism, `dp`). `micro_batches`: prefill micro-batches per pipeline pass
    # (0 = pp). The scale-up domain is `scale_up_devices` devices on the `p2p_*` links (0 =
    # every device); domains talk over a scale-out NIC of `scale_out_gbps` (bidirectional
    # aggregate, like `p2p_gbps`) with `scale_out_latency_us` per message. The NIC is a separate
    # adapter (no die area); its power and price are charged when a replica crosses domains.
    ep: int = 1
    pp: int = 1
    micro_batches: int = 0
    scale_up_devices: int = 0
    scale_out_gbps: float = DEFAULT_SCALE_OUT_GBPS
    scale_out_latency_us: float = SCALE_OUT_LATENCY_S * 1e6
    process_nm: int = 7
    # int8 MACs an array PE performs per cycle for each fp16 MAC (1: int8 runs at the fp16 rate;
    # 2: TPU v5e's MXUs, 394 int8 TOPS vs 197 bf16 TFLOPS). Only the weight GEMMs of an `int8`
    # model use it (perf/hda.py). Area: not charged by area.py yet — a dual-int8 PE adds int8
    # multipliers beside the fp16 one; docs/model.md notes it for the area model.
    int8_macs_per_fp16_mac: int = 1
    # The same for the other narrow formats (docs/model.md "Numeric formats"): 1 = the format
    # runs through the fp16 MAC at the fp16 rate (its values are exact in fp16); r ≥ 2 = every
    # array PE and every MAC-tree input also holds r native MACs of the format (r× the rate;
    # area.py charges them at the per-format MAC area of hardware/constants.MAC_AREA_VS_FP16).
    fp8_macs_per_fp16_mac: int = 1
    int4_macs_per_fp16_mac: int = 1
    fp4_macs_per_fp16_mac: int = 1
    # Area-only overrides (0 = derive from the performance fields): GA100 has 128 physical SMs
    # of which 108 are enabled, and 6 HBM2e PHYs of which 5 are populated (DESIGN §4).
    physical_core_count: int = 0
    dram_phy_count: int = 0
    p2p_link_count: int = 0

    def __post_init__(self) -> None:
        object.__setattr__(self, "dram_type", _enum(DramType, self.dram_type, "dram_type"))
        object.__setattr__(self, "p2p_type", _enum(LinkType, self.p2p_type, "p2p_type"))
        object.__setattr__(self, "tp_sync", _enum(TpSync, self.tp_sync, "tp_sync"))
        if not isinstance(self.sa_weight_double_buffer, bool):
            value = self.sa_weight_double_buffer
            raise InputError(f"sa_weight_double_buffer: must be true or false, got {value!r}")
        ints_pos = (
            "core_count",
            "sa_rows",
            "sa_cols",
            "sa_per_core",
            "vector_width",
            *PACKED_RATE_FIELDS,
        )
        ints_nonneg = (
            "mt_width",
            "mt_lanes",
            "physical_core_count",
            "dram_phy_count",
            "p2p_link_count",
        )
        ints_par = ("ep", "pp", "micro_batches", "scale_up_devices")
        for name in (*ints_pos, *ints_nonneg, *ints_par, "devices", "tp", "process_nm"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int):
                if isinstance(value, float) and value.is_integer():
                    object.__setattr__(self, name, int(value))
                else:
                    raise InputError(f"{name}: must be an integer, got {value!r}")
        for name in (*ints_pos, *ints_nonneg, *ints_par, "devices", "tp", "process_nm"):
            if getattr(self, name) > MAX_COUNT:
                raise InputError(
                    f"{name}: must be at most {MAX_COUNT:,}, got {getattr(self, name)}"
                )
        for name in (*ints_pos, "devices", "tp", "ep", "pp"):
            if getattr(self, name) <= 0:
                raise InputError(f"{name}: must be positive, got {getattr(self, name)}")
        for name in (*ints_nonneg, "micro_batches", "scale_up_devices"):
            if getattr(self, name) < 0:
                raise InputError(f"{name}: must be ≥ 0, got {getattr(self, name)}")
        for name in (
            "freq_mhz",
            "local_sram_kib",
            "global_sram_mib",
            "noc_gbps",
            "dram_gib",
            "dram_gbps",
            "p2p_gbps",
            "scale_out_gbps",
        ):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise InputError(f"{name}: must be a number, got {value!r}")
            if not math.isfinite(value) or value <= 0:
                raise InputError(f"{name}: must be a positive number, got {value}")
            object.__setattr__(self, name, float(value))
        for name in ("sa_rows", "sa_cols"):
            value = getattr(self, name)
            if value % SA_GRANULE and value not in SA_SMALL_DIMS:
                raise InputError(
                    f"{name}: systolic-array dimensions must be multiples of {SA_GRANULE} "
                    f"(or 4/8/16 for tensor-core-style arrays), got {value}"
                )
        if (self.mt_width == 0) != (self.mt_lanes == 0):
            raise InputError("mt_width and mt_lanes: both zero (no MAC tree) or both positive")
        if self.tp > self.devices:
            raise InputError(f"tp ({self.tp}) cannot exceed devices ({self.devices})")
        if self.devices % self.tp:
            raise InputError(f"devices ({self.devices}) must be a multiple of tp ({self.tp})")
        for name in PACKED_RATE_FIELDS:
            if getattr(self, name) not in (1, 2, 4):
                raise InputError(f"{name}: must be 1, 2 or 4, got {getattr(self, name)}")
        lat = self.scale_out_latency_us
        if isinstance(lat, bool) or not isinstance(lat, int | float) or not math.isfinite(lat):
            raise InputError(f"scale_out_latency_us: must be a number, got {lat!r}")
        if lat < 0:
            raise InputError(f"scale_out_latency_us: must be ≥ 0, got {lat}")
        object.__setattr__(self, "scale_out_latency_us", float(lat))
        group = self.tp * self.ep * self.pp
        if self.devices % group:
            raise InputError(
                f"devices ({self.devices}) must be a multiple of tp · ep · pp "
                f"({self.tp} · {self.ep} · {self.pp} = {group})"
            )
        if self.process_nm != 7:
            raise InputError("process_nm: the area model is calibrated at 7 nm only")
        self._check_physical_limits()

    def _check_physical_limits(self) -> None:
        """The clock ceiling of the process and the most link units a die carries
        (hardware/constants.py; docs/model.md)."""
        if self.freq_mhz > c.FREQ_CEILING_MHZ_7NM:
            raise InputError(
                f"freq_mhz: {self.freq_mhz:g} MHz exceeds the 7 nm clock ceiling of "
                f"{c.FREQ_CEILING_MHZ_7NM:g} MHz"
            )
        per_unit = c.LINK_UNIT_GBPS[self.p2p_type]
        most = c.LINK_MAX_UNITS[self.p2p_type]
        units = self.p2p_link_count or math.ceil(self.p2p_gbps / per_unit - 1e-9)
        if units > most:
            raise InputError(
                f"p2p_gbps: {self.p2p_gbps:g} GB/s needs {units} {self.p2p_type.value} units; "
                f"a die carries at most {most} ({most * per_unit:g} GB/s)"
            )

    # --- derived quantities ---------------------------------------------------------------
    @property
    def freq_hz(self) -> float:
        return self.freq_mhz * 1e6

    @property
    def sa_macs_per_core(self) -> int:
        return self.sa_per_core * self.sa_rows * self.sa_cols

    @property
    def mt_macs_per_core(self) -> int:
        return self.mt_width * self.mt_lanes

    @property
    def macs_per_device(self) -> int:
        return self.core_count * (self.sa_macs_per_core + self.mt_macs_per_core)

    @property
    def peak_tflops(self) -> float:
        """Dense FP16 peak of one device: 2 · MACs · f (DESIGN §3)."""
        return 2.0 * self.macs_per_device * self.freq_hz / 1e12

    @property
    def peak_tops_int8(self) -> float:
        """Dense int8 peak of one device (TOPS): arrays and MAC trees at
        `int8_macs_per_fp16_mac` × their fp16 rate."""
        return self.peak_tflops_for("int8")

    def macs_per_fp16_mac(self, precision: str) -> int:
        """Array MACs per PE per cycle in `precision` (fp16 and unknown formats: 1)."""
        name = f"{precision}_macs_per_fp16_mac"
        return int(getattr(self, name)) if name in PACKED_RATE_FIELDS else 1

    def peak_tflops_for(self, precision: str) -> float:
        """Dense peak of one device in `precision` (TFLOPS or TOPS): arrays and MAC trees at
        their packed rate for the format."""
        return self.peak_tflops * self.macs_per_fp16_mac(precision)

    @property
    def sa_tflops(self) -> float:
        return 2.0 * self.core_count * self.sa_macs_per_core * self.freq_hz / 1e12

    @property
    def mt_tflops(self) -> float:
        return 2.0 * self.core_count * self.mt_macs_per_core * self.freq_hz / 1e12

    @property
    def replica_devices(self) -> int:
        """Devices of one model replica: tp · ep · pp."""
        return self.tp * self.ep * self.pp

    @property
    def dp(self) -> int:
        """Data-parallel replicas: devices / (tp · ep · pp)."""
        return self.devices // self.replica_devices

    @property
    def uses_scale_out(self) -> bool:
        """True when one replica spans several scale-up domains, so each device carries and
        uses a scale-out NIC (its power and price: `hardware/power.py`, `hardware/cost.py`)."""
        return 0 < self.scale_up_devices < self.replica_devices

    @property
    def total_sram_mib(self) -> float:
        return self.core_count * self.local_sram_kib / 1024.0 + self.global_sram_mib

    def replace(self, **changes: Any) -> ArchConfig:
        """A validated copy with `changes` applied (unknown fields are an InputError)."""
        unknown = set(changes).difference(_field_names(type(self)))
        if unknown:
            raise InputError(f"unknown hardware field(s): {', '.join(sorted(unknown))}")
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        out = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            out[f.name] = value.value if isinstance(value, StrEnum) else value
        return out

    def canonical_key(self) -> str:
        """Content hash key used by result caches (name excluded)."""
        import hashlib
        import json

        data = self.to_dict()
        data.pop("name")
        for name, default in _PARALLEL_DEFAULTS.items():  # keys of older designs stay valid
            if data[name] == default:
                data.pop(name)
        return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:20]

    @classmethod
    def field_names(cls) -> tuple[str, ...]:
        return _field_names(cls)


_FIELD_NAMES: dict[type, tuple[str, ...]] = {}


def _field_names(cls: type) -> tuple[str, ...]:
    """Field names of a dataclass, computed once per class (read for every `--designs` line)."""
    names = _FIELD_NAMES.get(cls)
    if names is None:
        names = _FIELD_NAMES[cls] = tuple(f.name for f in dataclasses.fields(cls))
    return names
