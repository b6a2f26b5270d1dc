"""Energy of expert parallelism's all-to-all (issue 17): dispatch and combine bytes are charged
on the device links at e_link per byte, the constant the TP collectives use."""

from __future__ import annotations

import pytest

from ador_opt.hardware.power import energy_table
from ador_opt.hardware.presets import HARDWARE_PRESETS
from ador_opt.models.ops import BatchComposition
from ador_opt.models.presets import MODEL_PRESETS
from ador_opt.perf import energy
from ador_opt.perf.evaluate import evaluate_design
from ador_opt.perf.expert import moe_layers
from ador_opt.perf.parallel import Parallelism, parallel_breakdown, parallel_step_time
from ador_opt.perf.static import evaluate_static_batch

MIXTRAL = MODEL_PRESETS["mixtral-8x7b"]
DENSE = MODEL_PRESETS["llama-3-8b"]
HDA = HARDWARE_PRESETS["ador-paper"]
DECODE = BatchComposition.decode_only(16, 16 * 512)
PREFILL = BatchComposition.prefill_only(4, 256)


def _hda(devices: int) -> object:
    assert HDA.arch is not None
    return HDA.__class__("hda", HDA.arch.replace(devices=devices), None)


def _a2a_bytes(tokens_per_group: int, ep: int, tp: int = 1) -> float:
    """Dispatch + combine bytes one device sends per step (uniform routing, tp-split rows)."""
    m = MIXTRAL
    leaving = m.experts_per_token * (ep - 1) / ep
    row = tokens_per_group / tp * m.hidden_size * m.bytes_per_activation
    return 2 * moe_layers(m) * row * leaving


@pytest.fixture
def uncharged(monkeypatch: pytest.MonkeyPatch):
    """The step as it was before the all-to-all was charged: link energy of it = 0."""

    def run(hw: object, model: object, batch: BatchComposition, par: Parallelism) -> float:
        parallel_breakdown.cache_clear()
        with monkeypatch.context() as patch:
            patch.setattr(energy, "link_energy_j", lambda _arch, _bytes: 0.0)
            e = parallel_step_time(hw, model, batch, par).energy_j  # type: ignore[arg-type]
        parallel_breakdown.cache_clear()
        return e

    return run


@pytest.mark.parametrize("batch, tokens", [(DECODE, 8), (PREFILL, 512)])
def test_all_to_all_bytes_are_on_the_link_and_in_the_energy(
    batch: BatchComposition, tokens: int, uncharged
) -> None:
    hw = _hda(2)
    par = Parallelism(tp=1, ep=2)
    st = parallel_step_time(hw, MIXTRAL, batch, par)  # type: ignore[arg-type]
    # tp = 1: no TP collective, so the link bytes are the all-to-alls' alone (the attention
    # replica with the most requests: half the step's tokens).
    want = _a2a_bytes(tokens, 2)
    assert st.p2p_bytes == pytest.approx(want, rel=1e-12)
    e_link = energy_table(hw.arch).p2p_j_per_byte  # type: ignore[attr-defined]
    before = uncharged(hw, MIXTRAL, batch, par)
    assert st.energy_j - before == pytest.approx(want * e_link, rel=1e-9)
    assert st.energy_j > before


def test_more_all_to_all_traffic_raises_energy_per_token(uncharged) -> None:
    """The same 16-request decode step on ep = 2 and ep = 4: each of the ep devices routes
    16/ep requests and sends (ep − 1)/ep of their expert rows away, so the replica moves
    16 · 1/2 = 8 vs 16 · 3/4 = 12 token-rows per MoE layer. The all-to-all's energy over the
    replica grows with that traffic (1.5×), and a static batch's energy per token includes it."""
    extra = {}
    for ep in (2, 4):
        hw = _hda(ep)
        par = Parallelism(tp=1, ep=ep)
        charged = parallel_step_time(hw, MIXTRAL, DECODE, par).energy_j  # type: ignore[arg-type]
        extra[ep] = ep * (charged - uncharged(hw, MIXTRAL, DECODE, par))
    assert 0 < extra[2] < extra[4]
    assert extra[4] / extra[2] == pytest.approx(1.5, rel=1e-9)
    # Static batch through `evaluate`: energy per token includes the link energy.
    doc = evaluate_design(_hda(2), MIXTRAL, 16, 256, 16, 1, ep=2)  # type: ignore[arg-type]
    parallel_breakdown.cache_clear()
    evaluate_static_batch.cache_clear()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(energy, "link_energy_j", lambda _arch, _bytes: 0.0)
        free = evaluate_design(_hda(2), MIXTRAL, 16, 256, 16, 1, ep=2)  # type: ignore[arg-type]
    parallel_breakdown.cache_clear()
    evaluate_static_batch.cache_clear()
    assert doc["energy_per_token_j"] > free["energy_per_token_j"]


def test_a_dense_model_is_unchanged(uncharged) -> None:
    """No experts, no all-to-all: a dense model through the parallel path (pp = 2) keeps its
    link bytes (the stage sends are not charged) and its energy."""
    hw = _hda(2)
    par = Parallelism(tp=1, pp=2)
    st = parallel_step_time(hw, DENSE, DECODE, par)  # type: ignore[arg-type]
    assert st.p2p_bytes == 0.0
    assert st.energy_j == uncharged(hw, DENSE, DECODE, par)
