"""SCALE-Sim 3.0.0 (`scalesim` on PyPI, MIT) driven in-process, as the reference for the
systolic-array cycle model and as the opt-in `sa_backend="scalesim"` of `hda_step_time`.

Two ways to run one GEMM layer (M × K)·(K × N) on an R × C array:

* `full_layer_cycles`: SCALE-Sim's whole single-layer simulation (compute + memory) through
  its `simulator` class, with reports written to a temporary directory; the cycles are read
  from its per-layer COMPUTE_REPORT.csv ("Total Cycles"; `get_total_cycles()` is broken in
  3.0.0). Only for small shapes: the memory model steps through every cycle in Python.
  SCALE-Sim 3.0.0 crashes with numpy ≥ 2.4 in the last statement of
  `double_buffered_scratchpad.service_memory_requests` (`int()` of a 1-element array, which
  numpy 2.4 no longer allows). `_numpy24_patch` wraps that method for the duration of the call:
  when the TypeError comes from that statement, it redoes it on a scalar (the largest service
  cycle in the ofmap trace the method has already built) and marks the traces valid. Nothing
  else is changed and the project keeps its numpy.
* `compute_stage_cycles`: SCALE-Sim's compute stage only — its operand matrices and its
  weight-stationary compute unit's demand matrices. The memory stage services demand row i at
  cycle i + stalls and, in the default bandwidth mode ("CALC"), stalls are always 0, so the
  compute report's "Total Cycles" equals (demand rows − 1). Tests check that this equals the
  full simulation's report. To bound memory, wide GEMMs are run in slabs of whole column folds
  (SCALE-Sim concatenates the folds' demand blocks, so the slab row counts add up exactly; a
  test checks this too).

`scalesim_ws_cycles` caches compute-stage results on disk, one JSON file per key (shape, array,
dataflow, SCALE-Sim version) with a SHA-256 checksum; a corrupted or mismatching entry is
detected, recomputed and rewritten (atomically). Directory: $ADOR_OPT_CACHE_DIR/scalesim, else
~/.cache/ador_opt/scalesim.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import io
import json
import logging
import os
import tempfile
import time
import warnings
from collections.abc import Iterator
from functools import lru_cache
from importlib import metadata
from pathlib import Path
from typing import Any

from ador_opt.errors import InputError

LOG = logging.getLogger("ador_opt.scalesim")
DATAFLOWS = ("ws", "os", "is")
# Demand matrices are float64; keep one slab's three matrices under this many bytes.
MAX_SLAB_BYTES = 256 * 2**20
_SRAM_KB = 1024  # buffer sizes do not affect compute cycles in CALC mode


def scalesim_version() -> str:
    return metadata.version("scalesim")


def _check(m: int, k: int, n: int, rows: int, cols: int, dataflow: str) -> None:
    if min(m, k, n, rows, cols) <= 0:
        raise InputError(f"GEMM and array dimensions must be positive: {(m, k, n, rows, cols)}")
    if dataflow not in DATAFLOWS:
        raise InputError(f"unknown dataflow {dataflow!r}; use one of {DATAFLOWS}")


def _config(rows: int, cols: int, dataflow: str) -> Any:
    from scalesim.scale_config import scale_config

    cfg = scale_config()
    # run name, array, ifmap/filter/ofmap SRAM kB, address offsets, dataflow, bandwidth mode,
    # then three unused slots (update_from_list wants > 11 entries).
    cfg.update_from_list(
        [
            "ador",
            rows,
            cols,
            _SRAM_KB,
            _SRAM_KB,
            _SRAM_KB,
            0,
            10_000_000,
            20_000_000,
            dataflow,
            "CALC",
            0,
            0,
            0,
        ]
    )
    cfg.using_ifmap_custom_layout = False
    cfg.using_filter_custom_layout = False
    return cfg


def _topology(m: int, k: int, n: int) -> Any:
    from scalesim.topology_utils import topologies

    topo = topologies()
    # A GEMM as SCALE-Sim's GEMM topology reader encodes it: ifmap m × k, filter 1 × k,
    # 1 channel, n filters, stride 1, dense (1:1).
    topo.load_layer_params_from_list("gemm", ["gemm", m, k, 1, k, 1, n, 1, 1, 1, 1])
    return topo


@contextlib.contextmanager
def _numpy24_patch() -> Iterator[None]:
    """Let SCALE-Sim 3.0.0's memory stage finish under numpy ≥ 2.4 (see module docstring)."""
    from scalesim.memory import double_buffered_scratchpad_mem as dbm

    cls = dbm.double_buffered_scratchpad
    original = cls.service_memory_requests

    def patched(self: Any, ifmap: Any, filt: Any, ofmap: Any) -> None:
        try:
            original(self, ifmap, filt, ofmap)
        except TypeError as exc:
            trace = getattr(self, "ofmap_trace_matrix", None)
            if "0-dimensional" not in str(exc) or trace is None or len(trace) != len(ofmap):
                raise
            self.total_cycles = int(trace[:, 0].max())
            self.traces_valid = True

    cls.service_memory_requests = patched
    try:
        yield
    finally:
        cls.service_memory_requests = original


def full_layer_cycles(m: int, k: int, n: int, rows: int, cols: int, dataflow: str = "ws") -> int:
    """'Total Cycles' of SCALE-Sim's compute report for one full single-layer simulation."""
    _check(m, k, n, rows, cols, dataflow)
    from scalesim.layout_utils import layouts
    from scalesim.simulator import simulator

    with tempfile.TemporaryDirectory(prefix="ador-scalesim-") as tmp:
        sim = simulator()
        sim.set_params(
            config_obj=_config(rows, cols, dataflow),
            topo_obj=_topology(m, k, n),
            layout_obj=layouts(),
            top_path=tmp,
            verbosity=False,
            save_trace=False,
        )
        with _numpy24_patch(), contextlib.redirect_stdout(io.StringIO()):
            sim.run()
        report = Path(tmp) / "ador" / "COMPUTE_REPORT.csv"
        with report.open() as fh:
            rows_ = [[cell.strip() for cell in row] for row in csv.reader(fh)]
    header, first = rows_[0], rows_[1]
    return int(first[header.index("Total Cycles")])


def _compute_stage_rows(m: int, k: int, n: int, rows: int, cols: int) -> int:
    """Rows of SCALE-Sim's WS ofmap demand matrix for one layer (compute stage only)."""
    from scalesim.compute.operand_matrix import operand_matrix
    from scalesim.compute.systolic_compute_ws import systolic_compute_ws
    from scalesim.layout_utils import layouts

    cfg = _config(rows, cols, "ws")
    opm = operand_matrix()
    with contextlib.redirect_stdout(io.StringIO()):
        opm.set_params(config_obj=cfg, topoutil_obj=_topology(m, k, n), layoututil_obj=layouts())
        _, ifmap = opm.get_ifmap_matrix()
        _, filt = opm.get_filter_matrix()
        _, ofmap = opm.get_ofmap_matrix()
        unit = systolic_compute_ws()
        unit.set_params(config_obj=cfg, ifmap_op_mat=ifmap, filter_op_mat=filt, ofmap_op_mat=ofmap)
        unit.create_demand_matrices()
    return int(unit.ofmap_demand_matrix.shape[0])


def slab_columns(m: int, k: int, n: int, rows: int, cols: int) -> int:
    """Columns per slab (a multiple of `cols`) keeping a slab's demand matrices small."""
    fold_bytes = 3 * 8 * (2 * rows + cols + m) * max(rows, cols) * -(-k // rows)
    folds = max(1, MAX_SLAB_BYTES // fold_bytes)
    return min(n, folds * cols)


def compute_stage_cycles(
    m: int, k: int, n: int, rows: int, cols: int, slab_cols: int | None = None
) -> int:
    """SCALE-Sim's weight-stationary compute cycles of (m × k)·(k × n) on rows × cols, from
    its compute stage (see module docstring); `slab_cols` overrides the slab width."""
    _check(m, k, n, rows, cols, "ws")
    width = slab_columns(m, k, n, rows, cols) if slab_cols is None else slab_cols
    if width <= 0 or (width < n and width % cols):
        raise InputError(f"slab width must be a positive multiple of {cols}, got {width}")
    total = 0
    for start in range(0, n, width):
        total += _compute_stage_rows(m, k, min(width, n - start), rows, cols)
    return total - 1


# --- on-disk cache -------------------------------------------------------------------------


def cache_dir() -> Path:
    root = os.environ.get("ADOR_OPT_CACHE_DIR")
    base = Path(root) if root else Path.home() / ".cache" / "ador_opt"
    return base / "scalesim"


def _key(m: int, k: int, n: int, rows: int, cols: int, dataflow: str) -> dict[str, Any]:
    return {
        "m": m,
        "k": k,
        "n": n,
        "rows": rows,
        "cols": cols,
        "dataflow": dataflow,
        "scalesim": scalesim_version(),
        "stage": "compute",
    }


def _checksum(key: dict[str, Any], cycles: int) -> str:
    payload = json.dumps({"key": key, "cycles": cycles}, sort_keys=True).encode()
    return hashlib.sha256(payload).hexdigest()


def cache_path(
    m: int,
    k: int,
    n: int,
    rows: int,
    cols: int,
    dataflow: str = "ws",
    directory: Path | None = None,
) -> Path:
    key = _key(m, k, n, rows, cols, dataflow)
    name = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:32]
    return (directory or cache_dir()) / f"{name}.json"


def _read_entry(path: Path, key: dict[str, Any]) -> int | None:
    """The cached cycles, or None when the entry is absent, corrupted or for another key."""
    try:
        doc = json.loads(path.read_text())
        cycles = doc["cycles"]
        ok = (
            doc["key"] == key
            and isinstance(cycles, int)
            and doc["checksum"] == _checksum(key, cycles)
        )
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError):
        ok = False
    if not ok:
        warnings.warn(f"SCALE-Sim cache entry {path} is corrupted; recomputing", stacklevel=3)
        return None
    return int(cycles)


def _write_entry(path: Path, key: dict[str, Any], cycles: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    doc = {"key": key, "cycles": cycles, "checksum": _checksum(key, cycles)}
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".json")
    try:
        with os.fdopen(fd, "w") as fh:
            json.dump(doc, fh, sort_keys=True)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def cached_compute_stage_cycles(
    m: int, k: int, n: int, rows: int, cols: int, directory: Path | None = None
) -> int:
    """`compute_stage_cycles` through the on-disk cache."""
    _check(m, k, n, rows, cols, "ws")
    key = _key(m, k, n, rows, cols, "ws")
    path = cache_path(m, k, n, rows, cols, "ws", directory)
    cycles = _read_entry(path, key)
    if cycles is None:
        # One line per shape SCALE-Sim actually runs (minutes each at full size): the CLI shows
        # these as progress (`evaluate --sa-backend scalesim`); a library user can listen too.
        LOG.info("SCALE-Sim: %d×%d×%d on a %d×%d array …", m, k, n, rows, cols)
        t0 = time.monotonic()
        cycles = compute_stage_cycles(m, k, n, rows, cols)
        _write_entry(path, key, cycles)
        LOG.info("SCALE-Sim: %d×%d×%d done in %.1f s", m, k, n, time.monotonic() - t0)
    return cycles


@lru_cache(maxsize=4096)
def scalesim_ws_cycles(m: int, k: int, n: int, rows: int, cols: int) -> int:
    """Per-array cycle model backed by SCALE-Sim (a `systolic.CyclesFn`)."""
    return cached_compute_stage_cycles(m, k, n, rows, cols)
