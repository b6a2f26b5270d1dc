"""Facts about running narrow numeric formats that the HDA and GPU models share
(docs/model.md "Numeric formats").

Weight-only formats (w8a16, w4a16, MXFP4 weights with 16-bit activations) store fewer bytes per
weight but multiply at the activation format: every weight element a GEMM streams is converted
(unpacked, scaled by its group scale, offset) before the MACs. The HDA template does this on the
vector unit (`perf/hda.py`), a GPU on its CUDA cores inside the GEMM's main loop (`perf/gpu.py`).
"""

from __future__ import annotations

# Ops per weight element to dequantise: one unpack/convert and one multiply-add with the group
# scale (and zero point). GPU weight-only kernels do exactly this pair per element (a bit-field
# extract / magic-number convert, then an fma with the scale: Kim et al., "Who Says Elephants
# Can't Run", 2022 (FasterTransformer's int4 path); Frantar et al., "MARLIN", 2024). ASSUMPTION
# that the template's vector unit needs the same two ops.
DEQUANT_OPS_PER_WEIGHT = 2
# Dequantisation ops one SM issues per cycle on its CUDA cores: 64 FP32/INT32 lanes per SM on
# A100 and H100 (NVIDIA A100 / H100 architecture whitepapers: 64 FP32 cores per SM on GA100,
# 128 on GH100 — the smaller figure is used for both), each doing a packed half2 op (2 elements).
GPU_DEQUANT_OPS_PER_CYCLE_PER_SM = 128
