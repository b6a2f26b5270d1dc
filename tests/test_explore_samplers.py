"""Every trial a new design: seeds from the study's history, repeats re-asked, exhaustion, and
infeasible trials that no sampler learns from through their placeholder values."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from ador_opt.explore import create_or_open, resolve_store, run_trials, validate_spec
from ador_opt.explore import evaluate as evaluate_module
from ador_opt.explore.samplers import NoRepeatSampler, derive_seed
from ador_opt.explore.space import design_key
from ador_opt.explore.study import count_trials
from tests.conftest import run_cli
from tests.explore_fixtures import spec_dict, write_spec


def _designs(study, trials) -> list[str]:
    space = validate_spec(study.user_attrs["ador_spec"]).space
    return [design_key(space, t.params) for t in trials]


def test_derived_seeds_differ_by_history_and_worker() -> None:
    seeds = {derive_seed(7, n, w) for n in (0, 25, 50) for w in (0, 1)}
    assert len(seeds) == 6
    assert derive_seed(7, 25) == derive_seed(7, 25)  # reproducible


@pytest.mark.parametrize("sampler", ["random", "tpe"])
def test_resume_by_25_adds_new_designs(tmp_path: Path, sampler: str) -> None:
    """Acceptance (issue 14): resuming a finished 25-trial study by 25 more trials adds ≥ 23
    designs not seen before (before: random repeated all 25, TPE 10 of 10)."""
    ref = resolve_store(str(tmp_path / "s.db"))
    study, _ = create_or_open(ref, validate_spec(spec_dict(n_trials=25, sampler=sampler)))
    run_trials(study, ref, 25, seed=7)
    first = set(_designs(study, study.get_trials()))
    run_trials(study, ref, 50, seed=7 + 1000)  # what `resume --n-trials 50` runs
    later = study.get_trials()[25:]
    new = {k for k in _designs(study, later) if k not in first}
    assert len(new) >= 23, (sampler, len(new))
    counts = count_trials(study)
    assert counts.complete == 50 and counts.cache_hits == 0


def test_cli_optimize_twice_and_resume_never_repeat(tmp_path: Path) -> None:
    spec = write_spec(tmp_path, n_trials=25)
    first = run_cli("optimize", str(spec), "--json", "--sampler", "random", cwd=tmp_path)
    assert first.code == 0, first.stderr
    again = run_cli("resume", "runs/tiny.db", "--n-trials", "50", "--json", cwd=tmp_path)
    assert again.code == 0, again.stderr
    doc = json.loads(again.stdout)
    assert doc["complete"] == 50 and doc["cache_hits"] == 0
    import optuna

    study = optuna.load_study(study_name="tiny", storage=f"sqlite:///{tmp_path}/runs/tiny.db")
    keys = _designs(study, study.get_trials())
    assert len(set(keys)) == len(keys) == 50


@pytest.mark.parametrize("sampler", ["random", "tpe"])
def test_a_partly_pinned_retry_gets_a_new_design(tmp_path: Path, sampler: str) -> None:
    """A killed trial's retry keeps the parameters it had been given (Optuna's fixed params
    override any proposal). Pinned on all but one parameter of designs the study holds, the
    sampler must move that one parameter to an unseen value, not repeat a design (the CI
    failure of `test_sigkill_then_resume_loses_nothing`: 41 COMPLETE for 40 designs)."""
    ref = resolve_store(str(tmp_path / "p.db"))
    study, _ = create_or_open(ref, validate_spec(spec_dict(n_trials=10, sampler=sampler)))
    run_trials(study, ref, 10, seed=3)
    space = validate_spec(study.user_attrs["ador_spec"]).space
    free = space.sampled[-1]
    held = set(_designs(study, study.get_trials()))
    pins: list[dict] = []
    for done in study.get_trials():
        pinned = {k: v for k, v in done.params.items() if k != free.name}
        unseen = {design_key(space, {**pinned, free.name: v}) for v in free.values} - held
        if unseen and pinned not in pins:
            pins.append(pinned)  # a design the pins allow is still unseen
    assert len(pins) >= 3
    for pinned in pins:
        study.enqueue_trial(pinned, skip_if_exists=False)
    run_trials(study, ref, 10 + len(pins), seed=4)
    keys = _designs(study, study.get_trials())
    assert len(set(keys)) == len(keys) == 10 + len(pins)
    for t in study.get_trials()[10:]:
        assert t.system_attrs["fixed_params"].items() <= t.params.items()
    assert count_trials(study).cache_hits == 0


def test_an_exhausted_space_ends_the_study_with_a_message(tmp_path: Path) -> None:
    # 2 × 2 = 4 designs; asking for 10 stops after the 4 with one line on stderr.
    extra_space = spec_dict(n_trials=10, sampler="random")
    extra_space["space"] = {
        "base": "ador-paper",
        "sa_dim": {"choices": [32, 64]},
        "dram_gbps": {"choices": [1600, 3200]},
    }
    ref = resolve_store(str(tmp_path / "e.db"))
    study, _ = create_or_open(ref, validate_spec(extra_space))
    run_trials(study, ref, 10, seed=1)
    counts = count_trials(study)
    assert counts.complete == 4
    assert counts.cache_hits == 1  # the one proposal that found nothing new
    assert isinstance(study.sampler, NoRepeatSampler) and study.sampler.exhausted


def test_exhausted_message_on_stderr(tmp_path: Path) -> None:
    text = write_spec(tmp_path, n_trials=9, sampler="tpe").read_text()
    head, _, _ = text.partition("[space]")
    objectives = text[text.index("[[objectives]]") :]
    spec = tmp_path / "small.toml"
    spec.write_text(
        head
        + '[space]\nbase = "ador-paper"\nsa_dim = { choices = [32, 64] }\n'
        + "dram_gbps = { choices = [1600, 3200] }\n\n"
        + objectives
    )
    result = run_cli("optimize", str(spec), "--json", cwd=tmp_path)
    assert result.code == 0, result.stderr
    assert "exhausted" in result.stderr and "4 distinct designs" in result.stderr
    assert json.loads(result.stdout)["complete"] == 4


# --- no placeholder value enters a surrogate ---------------------------------------------------
def _run_with_placeholders(tmp_path: Path, sampler: str, n: int, shift) -> list[dict]:
    ref = resolve_store(str(tmp_path / f"{sampler}-{shift.__name__}.db"))
    study, _ = create_or_open(ref, validate_spec(spec_dict(n_trials=n, sampler=sampler)))
    run_trials(study, ref, n, seed=3)
    trials = study.get_trials(states=(TrialState.COMPLETE,))
    infeasible = [t for t in trials if t.user_attrs["rejected_by"]]
    assert len(infeasible) >= 5, "the test needs infeasible trials to mean anything"
    assert len(infeasible) < len(trials) - 5, "…and feasible ones for the model to fit"
    return [t.params for t in study.get_trials()]


def _other_placeholders(original, varying: bool):
    """Placeholder values unlike the engine's: a different value per call (`varying`) or
    another constant."""
    counter = iter(range(10**6))

    def perturbed(spec):
        k = next(counter) if varying else 1
        return tuple(v * (1.0 + 0.37 * (k % 7 + 1)) + 3.0 * k for v in original(spec))

    return perturbed


@pytest.mark.parametrize(
    ("sampler", "n", "varying"),
    [("random", 30, True), ("tpe", 40, True), ("nsga2", 75, False)],
)
def test_placeholder_values_do_not_steer_the_sampler(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sampler: str, n: int, varying: bool
) -> None:
    """Same seed, different placeholder values for infeasible trials → the same proposals:
    the sampler learnt nothing from them (Optuna 5 samplers read the trials' constraints).

    TPE puts infeasible trials in its "bad" density ordered by total violation; NSGA-II
    ranks them by constrained domination. NSGA-II's crowding-distance tie-break among equally
    violating individuals reads values, which carry no information while every placeholder
    is the same constant (the engine's rule: each objective's reference) — so for NSGA-II the
    alternative placeholders are another constant, for TPE and random they vary per trial."""
    original = evaluate_module.placeholder_values

    def reference(spec):  # the engine's own placeholders
        return original(spec)

    baseline = _run_with_placeholders(tmp_path, sampler, n, reference)
    perturbed = _other_placeholders(original, varying)

    monkeypatch.setattr(evaluate_module, "placeholder_values", perturbed)
    assert _run_with_placeholders(tmp_path, sampler, n, perturbed) == baseline


def test_placeholder_values_do_not_steer_the_front_search(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The default TPE study's model-ranked front neighbours (explore/frontsearch.py) fit only
    feasible trials' values: with the search switched on from trial 15 of 40, other
    placeholders still give the same proposals — and some proposals were the search's."""
    from ador_opt.explore import samplers as samplers_module

    monkeypatch.setattr(samplers_module, "FRONT_AFTER", 15)
    original = evaluate_module.placeholder_values
    made: list[NoRepeatSampler] = []
    make = samplers_module.make_sampler

    def spy(*args, **kwargs):
        sampler = make(*args, **kwargs)
        made.append(sampler)
        return sampler

    monkeypatch.setattr("ador_opt.explore.study.make_sampler", spy)

    def reference(spec):
        return original(spec)

    baseline = _run_with_placeholders(tmp_path, "tpe", 40, reference)
    assert made and all(s.local > 0 for s in made if isinstance(s, NoRepeatSampler))
    perturbed = _other_placeholders(original, varying=True)

    monkeypatch.setattr(evaluate_module, "placeholder_values", perturbed)
    assert _run_with_placeholders(tmp_path, "tpe", 40, perturbed) == baseline


def test_gp_sees_no_placeholder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """GP fits its objective models on every COMPLETE trial it is shown (Optuna 5.1), so the
    engine shows it only the feasible ones (`explore/feasible_view.py`): with other placeholder
    values it makes the same proposals, and no trial it was shown carries a violated constraint
    or a placeholder value."""
    pytest.importorskip("torch", reason="GPSampler needs PyTorch (optional: pip install torch)")
    from ador_opt.explore.feasible_view import FeasibleView

    shown_to_gp: list[list[optuna.trial.FrozenTrial]] = []
    real = FeasibleView._get_trials

    def spy(self, *args, **kwargs):
        trials = real(self, *args, **kwargs)
        shown_to_gp.append(list(trials))
        return trials

    monkeypatch.setattr(FeasibleView, "_get_trials", spy)
    original = evaluate_module.placeholder_values

    def reference(spec):
        return original(spec)

    baseline = _run_with_placeholders(tmp_path, "gp", 20, reference)
    assert shown_to_gp, "GP never read the study through the view"
    placeholders = tuple(original(validate_spec(spec_dict(n_trials=20, sampler="gp"))))
    for trials in shown_to_gp:
        for t in trials:
            if t.state == TrialState.COMPLETE:
                assert all(v <= 0 for v in t.constraints.values())
                assert tuple(t.values) != placeholders
    perturbed = _other_placeholders(original, varying=True)

    monkeypatch.setattr(evaluate_module, "placeholder_values", perturbed)
    assert _run_with_placeholders(tmp_path, "gp", 20, perturbed) == baseline


def test_gp_without_its_libraries_is_refused_naming_them(monkeypatch: pytest.MonkeyPatch) -> None:
    """`sampler = "gp"` without PyTorch or SciPy is an input error that names exactly what is
    missing (before any store is made), not an ImportError in the first trial after the
    start-up. Each case makes one library absent and the other present, whatever is installed."""
    from importlib.machinery import ModuleSpec

    from ador_opt.errors import InputError
    from ador_opt.explore.spec import GP_NEEDS

    real = importlib.util.find_spec

    def only_missing(gone: str):
        def find_spec(name, *args):
            if name == gone:
                return None
            return ModuleSpec(name, None) if name in GP_NEEDS else real(name, *args)

        return find_spec

    for gone in GP_NEEDS:
        monkeypatch.setattr(importlib.util, "find_spec", only_missing(gone))
        with pytest.raises(InputError, match=rf"'gp' needs {gone} \(pip install"):
            validate_spec(spec_dict(n_trials=5, sampler="gp"))
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None)
    with pytest.raises(InputError, match=r"'gp' needs torch and scipy \("):
        validate_spec(spec_dict(n_trials=5, sampler="gp"))
