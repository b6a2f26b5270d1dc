"""Speculative decoding (perf/speculative.py) in the static evaluator and the serving simulator.

Property test: a higher acceptance rate never slows speculative decoding.
"""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ador_opt.errors import InputError
from ador_opt.hardware.presets import HARDWARE_PRESETS
from ador_opt.models import MODEL_PRESETS
from ador_opt.models.ops import BatchComposition, step_parts
from ador_opt.perf.evaluate import evaluate_design
from ador_opt.perf.speculative import SpeculativeConfig, verify_batch
from ador_opt.perf.static import evaluate_static_batch
from ador_opt.perf.step import step_time
from ador_opt.serving import SchedulerConfig, simulate_run, workload_preset
from ador_opt.serving.stepcache import StepTimer
from tests.conftest import assert_input_error, run_cli

TARGET = MODEL_PRESETS["llama-3-70b"]
DRAFT = MODEL_PRESETS["llama-3-8b"]
SMALL = MODEL_PRESETS["gemma-2b"]
H100 = HARDWARE_PRESETS["h100-sxm-80gb"]
ADOR = HARDWARE_PRESETS["ador-paper"]


# --- expected tokens ------------------------------------------------------------------------
@settings(max_examples=50, deadline=None)
@given(a=st.floats(0.0, 0.999), k=st.integers(1, 8))
def test_iid_acceptance_matches_the_closed_form(a: float, k: int) -> None:
    # Leviathan et al. 2023, eq. (1): E[tokens per step] = (1 − α^{k+1}) / (1 − α)
    tau = SpeculativeConfig(k, (a,)).expected_tokens
    assert tau == pytest.approx((1 - a ** (k + 1)) / (1 - a), rel=1e-9)


def test_per_position_acceptance_is_a_prefix_product() -> None:
    spec = SpeculativeConfig(3, (0.9, 0.5, 0.2))
    assert spec.prefix_probabilities == pytest.approx((0.9, 0.45, 0.09))
    assert spec.expected_tokens == pytest.approx(1 + 0.9 + 0.45 + 0.09)
    assert SpeculativeConfig(4, (0.0,)).expected_tokens == 1.0
    assert SpeculativeConfig(4, (1.0,)).expected_tokens == 5.0


@pytest.mark.parametrize(
    ("k", "acc", "match"),
    [
        (0, (0.5,), "positive"),
        (2, (0.5, 0.5, 0.5), "one rate"),
        (2, (1.5,), r"\[0, 1\]"),
        (99, (0.5,), "at most"),
    ],
)
def test_bad_speculative_configs_are_input_errors(
    k: int, acc: tuple[float, ...], match: str
) -> None:
    with pytest.raises(InputError, match=match):
        SpeculativeConfig(k, acc)


# --- verification step ----------------------------------------------------------------------
def test_verification_scores_every_position_and_reads_kv_once() -> None:
    b, c, k = 8, 1000, 3
    parts = step_parts(TARGET, verify_batch(b, c, k), 1)
    assert parts.tokens == b * (k + 1)  # k+1 query tokens per sequence in every GEMM
    assert parts.logits_rows == b * (k + 1)  # the LM head scores every position
    assert parts.attn_prefill is not None
    kv_row = 2 * TARGET.num_kv_heads * TARGET.head_dim * TARGET.bytes_per_kv
    assert parts.attn_prefill.kv_bytes == b * c * kv_row  # cached K/V read once per sequence


def _tbt(hw, spec: SpeculativeConfig | None, batch: int = 8, tp: int = 4) -> float:
    return evaluate_static_batch(hw, TARGET, batch, 512, 64, tp, speculative=spec).tbt_ms


def test_tbt_is_step_time_over_expected_tokens() -> None:
    spec = SpeculativeConfig(4, (0.8,), DRAFT)
    batch, context = 8, 700
    verify = step_time(H100, TARGET, verify_batch(batch, context - 1, 4), 4).seconds
    draft = sum(
        step_time(H100, DRAFT, BatchComposition.decode_only(batch, context - 1 + i), 4).seconds
        for i in range(4)
    )
    from ador_opt.perf.speculative import per_token_step

    got = per_token_step(
        lambda b: step_time(H100, TARGET, b, 4),
        lambda b: step_time(H100, DRAFT, b, 4),
        spec,
        batch,
        context - 1,
    ).seconds
    assert got == pytest.approx((verify + draft) / spec.expected_tokens, rel=1e-12)


def test_good_speculation_cuts_tbt_and_costs_ttft() -> None:
    plain = evaluate_static_batch(H100, TARGET, 4, 512, 64, 4)
    spec = evaluate_static_batch(
        H100, TARGET, 4, 512, 64, 4, speculative=SpeculativeConfig(4, (0.8,), DRAFT)
    )
    assert spec.tbt_ms < 0.7 * plain.tbt_ms  # memory-bound 70B decode, cheap 8B draft
    assert spec.ttft_ms > plain.ttft_ms  # the draft prefills the prompt as well


def test_zero_acceptance_only_adds_cost() -> None:
    assert _tbt(H100, SpeculativeConfig(2, (0.0,), DRAFT)) > _tbt(H100, None)


@settings(max_examples=25, deadline=None)
@given(
    a1=st.floats(0.0, 1.0),
    a2=st.floats(0.0, 1.0),
    k=st.integers(1, 5),
    mtp=st.booleans(),
    hw_name=st.sampled_from(["h100-sxm-80gb", "a100-sxm-80gb", "ador-paper"]),
    batch=st.integers(1, 16),
)
def test_higher_acceptance_never_slows_speculative_decoding(
    a1: float, a2: float, k: int, mtp: bool, hw_name: str, batch: int
) -> None:
    lo, hi = sorted((a1, a2))
    draft = None if mtp else SMALL
    hw = HARDWARE_PRESETS[hw_name]
    slow = evaluate_static_batch(
        hw,
        MODEL_PRESETS["gemma-7b"],
        batch,
        256,
        32,
        1,
        speculative=SpeculativeConfig(k, (lo,), draft),
    )
    fast = evaluate_static_batch(
        hw,
        MODEL_PRESETS["gemma-7b"],
        batch,
        256,
        32,
        1,
        speculative=SpeculativeConfig(k, (hi,), draft),
    )
    assert fast.tbt_ms <= slow.tbt_ms * (1 + 1e-12)
    assert fast.e2e_ms <= slow.e2e_ms * (1 + 1e-12)
    # and in the serving simulator's decode rounds
    t_lo = StepTimer(hw, MODEL_PRESETS["gemma-7b"], 1, None, SpeculativeConfig(k, (lo,), draft))
    t_hi = StepTimer(hw, MODEL_PRESETS["gemma-7b"], 1, None, SpeculativeConfig(k, (hi,), draft))
    ctx = batch * 300
    assert t_hi.decode(batch, ctx)[0].seconds <= t_lo.decode(batch, ctx)[0].seconds * (1 + 1e-12)


def test_evaluate_reports_the_speculative_config() -> None:
    doc = evaluate_design(H100, TARGET, 4, 256, 16, 4, speculative=SpeculativeConfig(1, (0.85,)))
    assert doc["speculative"] == {
        "method": "mtp",
        "draft": None,
        "draft_tokens": 1,
        "acceptance": [0.85],
        "expected_tokens_per_step": pytest.approx(1.85),
    }


# --- serving simulator ----------------------------------------------------------------------
def _run(spec: SpeculativeConfig | None):
    cfg = SchedulerConfig(speculative=spec)
    return simulate_run(ADOR, DRAFT, workload_preset("chat"), 2.0, 150, 3, 1, cfg)


def test_simulator_finishes_every_token_and_speeds_decode() -> None:
    plain = _run(None)
    spec = _run(SpeculativeConfig(3, (0.8,), SMALL.with_formats()))
    assert all(r.generated == r.output_len for r in spec.requests)
    assert [r.output_len for r in spec.requests] == [r.output_len for r in plain.requests]
    assert spec.report.tbt_ms.mean < plain.report.tbt_ms.mean
    assert spec.report.e2e_ms.mean < plain.report.e2e_ms.mean
    assert spec.report.to_dict()["tbt_ms"]["mean"] > 0


def test_scheduler_config_json_carries_the_speculative_config() -> None:
    import json

    cfg = SchedulerConfig(speculative=SpeculativeConfig(2, (0.7, 0.5), SMALL))
    doc = json.loads(json.dumps(cfg.to_dict()))
    assert doc["speculative"]["draft"] == "gemma-2b"
    assert doc["speculative"]["expected_tokens_per_step"] == pytest.approx(1 + 0.7 + 0.35)
    assert SchedulerConfig().to_dict()["speculative"] is None


# --- CLI --------------------------------------------------------------------------------------
EVAL = ("evaluate", "--model", "gemma-2b", "--hardware", "h100-sxm-80gb", "--batch", "2",
        "--input-len", "64", "--output-len", "8")  # fmt: skip


def test_cli_evaluate_with_mtp() -> None:
    r = run_cli(
        *EVAL, "--draft", "mtp", "--draft-tokens", "2", "--acceptance", "0.9,0.6", "--json"
    )
    assert r.code == 0, r.stderr
    doc = r.json()
    assert isinstance(doc, dict)
    assert doc["speculative"]["expected_tokens_per_step"] == pytest.approx(1 + 0.9 + 0.54)
    assert math.isfinite(doc["tbt_ms"])


@pytest.mark.parametrize(
    ("extra", "needle"),
    [(("--draft", "mtp"), "--draft-tokens"),
     (("--draft", "mtp", "--draft-tokens", "2", "--acceptance", "1.2"), "acceptance"),
     (("--draft", "mtp", "--draft-tokens", "2", "--acceptance", "high"), "acceptance"),
     (("--draft", "no-such-model", "--draft-tokens", "2", "--acceptance", "0.5"), "model")],
)  # fmt: skip
def test_cli_bad_speculative_options_exit_2(extra: tuple[str, ...], needle: str) -> None:
    assert_input_error(run_cli(*EVAL, *extra), needle)


# --- memory -----------------------------------------------------------------------------------
def test_a_draft_that_does_not_fit_beside_the_target_is_infeasible() -> None:
    alone = evaluate_design(H100, TARGET, 4, 256, 16, 2)
    assert alone["feasible"]
    doc = evaluate_design(
        H100, TARGET, 4, 256, 16, 2, speculative=SpeculativeConfig(2, (0.8,), TARGET)
    )
    assert not doc["feasible"] and "proposer" in doc["reason"]


def test_the_proposer_shrinks_the_kv_budget() -> None:
    from ador_opt.serving.simulator import kv_capacity_tokens

    plain = kv_capacity_tokens(H100, TARGET, 4, SchedulerConfig())
    mtp = kv_capacity_tokens(
        H100, TARGET, 4, SchedulerConfig(speculative=SpeculativeConfig(1, (0.8,)))
    )
    draft = kv_capacity_tokens(
        H100, TARGET, 4, SchedulerConfig(speculative=SpeculativeConfig(4, (0.8,), DRAFT))
    )
    assert draft < mtp < plain
    # MTP: one more block of weights and of KV (80 layers → 81 layers of KV per token)
    assert mtp == pytest.approx(plain * 80 / 81, rel=0.01)
