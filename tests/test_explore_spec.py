"""Study spec validation: good specs resolve, bad ones raise one-line InputErrors."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

from ador_opt.errors import InputError
from ador_opt.explore.spec import load_spec, spec_hash, validate_spec
from tests.conftest import ROOT, assert_input_error, run_cli
from tests.explore_fixtures import spec_dict, write_spec


def _bad(mutate, *needles: str) -> None:
    data = spec_dict()
    mutate(data)
    with pytest.raises(InputError) as err:
        validate_spec(data)
    message = str(err.value)
    assert "\n" not in message
    for needle in needles:
        assert needle.lower() in message.lower(), message


def test_tiny_spec_resolves_defaults() -> None:
    spec = validate_spec(spec_dict())
    assert [o.name for o in spec.objectives] == ["throughput_per_mm2", "area_mm2"]
    assert spec.directions == ["maximize", "minimize"]
    # Reference point: 0 for a maximised metric, the area budget for area.
    assert [o.reference for o in spec.objectives] == [0.0, 700.0]
    assert spec.constraints == (
        "sanity",
        "area",
        "shoreline",
        "sram",
        "memory",
        "roofline_tbt",
        "slo_tbt",
    )
    assert spec.space.size == 4 * 3 * 3 * 3 * 2


@pytest.mark.parametrize("name", ["quickstart", "llama3-8b-chatbot", "llama3-70b-8dev"])
def test_shipped_studies_validate(name: str) -> None:
    path = ROOT / "studies" / f"{name}.toml"
    text = path.read_text()
    assert text.startswith("#"), "each study is documented at its top"
    try:
        spec = load_spec(path)
    except InputError as exc:  # serving studies need the serving simulator
        if "serving simulator" in str(exc):
            pytest.skip(str(exc))
        raise
    assert spec.name == name


def test_unknown_key_names_path_and_allowed_keys() -> None:
    _bad(lambda d: d["study"].update(n_trail=3), "study.n_trail", "unknown key", "n_trials")
    _bad(lambda d: d.update(budgett={}), "budgett", "unknown key", "budget")
    _bad(lambda d: d["scenarios"][0].update(bacth=3), "scenarios[0].bacth", "batch")


def test_systolic_sizes_must_be_multiples_of_32() -> None:
    _bad(lambda d: d["space"].update(sa_dim=48), "space.sa_dim", "multiple of 32")
    _bad(
        lambda d: d["space"].update(sa_dim={"min": 32, "max": 128, "step": 16}),
        "space.sa_dim",
        "allows 48",
    )
    _bad(lambda d: d["space"].update(sa_dim={"choices": [32, 48]}), "space.sa_dim", "48")


def test_empty_range_and_bad_values() -> None:
    _bad(
        lambda d: d["space"].update(core_count={"min": 64, "max": 16, "step": 8}),
        "space.core_count",
        "empty range",
    )
    _bad(lambda d: d["space"].update(dram_type={"choices": ["hbm9"]}), "space.dram_type", "hbm3")
    _bad(lambda d: d["space"].update(warp_size=32), "space.warp_size", "unknown parameter")
    _bad(lambda d: d["space"].update(mt_lanes={"min": 0}), "space.mt_lanes")


def test_unknown_objective_sampler_model() -> None:
    _bad(lambda d: d["objectives"][0].update(name="speed"), "objectives[0].name", "tbt_ms")
    _bad(lambda d: d["study"].update(sampler="cmaes"), "study.sampler", "nsga2")
    _bad(lambda d: d["model"].update(names=["gpt-9"]), "model.names[0]", "llama-3-8b")
    _bad(lambda d: d["scenarios"][0].update(kind="offline"), "scenarios[0]", "static")


def test_objective_needs_a_reference_or_a_scenario() -> None:
    _bad(lambda d: d["objectives"].append({"name": "e2e_ms"}), "objectives[2].reference")
    _bad(
        lambda d: d["objectives"].append({"name": "capacity_per_mm2"}),
        "objectives[2].name",
        "serving",
    )
    _bad(lambda d: d["objectives"].append({"name": "area_mm2"}), "listed twice")


def test_constraint_list_is_checked_and_ordered() -> None:
    data = spec_dict()
    data["constraints"] = ["memory", "area"]
    spec = validate_spec(data)
    assert spec.constraints == ("sanity", "area", "memory")  # sanity forced, stage order kept
    _bad(lambda d: d.update(constraints=["cost"]), "constraints[0]", "applicable")
    _bad(lambda d: d.update(constraints=["speed"]), "constraints[0]", "slo_tbt")


def test_hash_ignores_run_only_keys() -> None:
    spec = validate_spec(spec_dict())
    data = spec.to_dict()
    other = copy.deepcopy(data)
    other["study"].update(n_trials=999, n_jobs=2, storage="x.db", timeout_s=5.0)
    assert spec_hash(data) == spec_hash(other)
    assert spec.with_overrides(n_trials=3).spec_hash() == spec.spec_hash()
    assert spec.with_overrides(seed=8).spec_hash() != spec.spec_hash()
    assert spec.with_overrides(sampler="random").file.study.sampler == "random"


@pytest.mark.parametrize(
    ("extra", "needle"),
    [
        ("\n[extra]\nx = 1\n", "extra"),
        ("", "sa_dim"),  # replaced below with a bad SA range
    ],
)
def test_cli_bad_spec_exits_2_and_writes_nothing(tmp_path: Path, extra: str, needle: str) -> None:
    path = write_spec(tmp_path, extra=extra)
    if not extra:
        path.write_text(
            path.read_text().replace(
                "min = 32, max = 128, step = 32", "min = 48, max = 128, step = 32"
            )
        )
    result = run_cli("optimize", str(path), cwd=tmp_path)
    assert_input_error(result, needle)
    assert not (tmp_path / "runs").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == [path.name]


def test_cli_missing_and_malformed_spec(tmp_path: Path) -> None:
    assert_input_error(run_cli("optimize", str(tmp_path / "nope.toml"), cwd=tmp_path), "nope")
    bad = tmp_path / "bad.toml"
    bad.write_text("[study\nname=")
    assert_input_error(run_cli("optimize", str(bad), cwd=tmp_path), "malformed TOML")
    assert not (tmp_path / "runs").exists()
