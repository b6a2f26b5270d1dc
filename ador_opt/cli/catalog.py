"""`ador-opt models list|show` and `ador-opt hardware list|show`."""

from __future__ import annotations

from typing import Annotated

import typer

from ador_opt.cli._common import Col, emit_json, out_console, print_table
from ador_opt.hardware import HARDWARE_PRESETS, area_breakdown, cost_breakdown, load_hardware
from ador_opt.hardware.power import power_breakdown
from ador_opt.hardware.presets import Hardware
from ador_opt.models import MODEL_PRESETS, load_model

models_app = typer.Typer(
    help="Model presets and config files.", no_args_is_help=True, rich_markup_mode=None
)
hardware_app = typer.Typer(
    help="Hardware presets and design files.", no_args_is_help=True, rich_markup_mode=None
)

JsonFlag = Annotated[bool, typer.Option("--json", help="Print one JSON document on stdout.")]


def model_summary(name: str) -> dict[str, object]:
    spec = load_model(name)
    return {
        **spec.to_dict(),
        "param_count": spec.param_count,
        "active_param_count": spec.active_param_count,
        "active_param_count_excl_embedding": spec.active_param_count_excl_embedding,
        "weight_bytes": spec.weight_bytes,
        # KV: every token in the full-attention layers, plus at most `sliding_window` tokens
        # in the windowed ones (docs/model.md "KV bytes per token").
        "kv_bytes_per_token": spec.kv_bytes_per_token,
        "kv_window_bytes_per_token": spec.kv_window_bytes_per_token,
    }


@models_app.command("list")
def models_list(json_out: JsonFlag = False) -> None:
    """List model presets."""
    rows = [model_summary(name) for name in MODEL_PRESETS]
    if json_out:
        emit_json({"models": rows})
        return
    cols = [Col("name", numeric=False)] + [
        Col(h) for h in ("params (B)", "layers", "hidden", "heads/kv", "experts", "KV B/token")
    ]
    table = [
        [
            str(r["name"]),
            f"{int(r['param_count']) / 1e9:.2f}",  # type: ignore[call-overload]
            str(r["num_layers"]),
            str(r["hidden_size"]),
            f"{r['num_heads']}/{r['num_kv_heads']}",
            f"{r['experts_per_token']}/{r['num_experts']}",
            str(r["kv_bytes_per_token"]),
        ]
        for r in rows
    ]
    print_table("model presets", cols, table)


@models_app.command("show")
def models_show(name: str, json_out: JsonFlag = False) -> None:
    """Show one model: a preset name or a path to a local Hugging Face config.json."""
    row = model_summary(name)
    if json_out:
        emit_json(row)
        return
    for key, value in row.items():
        out_console.print(f"{key:>33}: {value}")


def hardware_summary(hw: Hardware) -> dict[str, object]:
    out: dict[str, object] = {"name": hw.name, "kind": "gpu" if hw.arch is None else "hda"}
    if hw.arch is not None:
        area = area_breakdown(hw.arch)
        power = power_breakdown(hw.arch)
        out.update(
            config=hw.arch.to_dict(),
            peak_tflops=hw.arch.peak_tflops,
            area_mm2=area.total_mm2,
            area_breakdown=area.to_dict(),
            cost_usd=cost_breakdown(hw.arch).total_usd,
            cost_breakdown=cost_breakdown(hw.arch).to_dict(),
            tdp_w=power.total_w,
            power_breakdown_w=power.to_dict(),
            shoreline_ok=area.shoreline_ok,
        )
    if hw.gpu is not None:
        out["gpu"] = hw.gpu.to_dict()
        out["performance_model"] = "gpu"
        if hw.arch is None:
            out.update(
                peak_tflops=hw.gpu.fp16_tflops,
                area_mm2=hw.gpu.die_area_mm2,
                tdp_w=hw.gpu.tdp_w,  # datasheet (no template to build a breakdown from)
            )
    else:
        out["performance_model"] = "hda"
    return out


@hardware_app.command("list")
def hardware_list(json_out: JsonFlag = False) -> None:
    """List hardware presets."""
    rows = [hardware_summary(hw) for hw in HARDWARE_PRESETS.values()]
    if json_out:
        emit_json({"hardware": rows})
        return
    cols = [
        Col("name", numeric=False),
        Col("kind", numeric=False),
        Col("peak TFLOPS"),
        Col("area mm²"),
        Col("perf model", numeric=False),
    ]
    table = [
        [
            str(r["name"]),
            str(r["kind"]),
            f"{r['peak_tflops']:.1f}",
            f"{r['area_mm2']:.1f}",
            str(r["performance_model"]),
        ]
        for r in rows
    ]
    print_table("hardware presets", cols, table)


@hardware_app.command("show")
def hardware_show(name: str, json_out: JsonFlag = False) -> None:
    """Show one hardware preset or a TOML/JSON design file, with its area breakdown."""
    row = hardware_summary(load_hardware(name))
    if json_out:
        emit_json(row)
        return
    out_console.print(
        f"[bold]{row['name']}[/bold]  ({row['kind']}, performance model: "
        f"{row['performance_model']})"
    )
    out_console.print(f"peak: {row['peak_tflops']:.1f} TFLOPS   area: {row['area_mm2']:.1f} mm²")
    if "config" in row:
        config = [[k, str(v)] for k, v in row["config"].items()]  # type: ignore[attr-defined]
        print_table("configuration", [Col("field", False), Col("value", False)], config)
        area = [
            [k, f"{v:.3f}" if isinstance(v, float) else str(v)]
            for k, v in row["area_breakdown"].items()  # type: ignore[attr-defined]
        ]
        print_table("area breakdown (mm²)", [Col("component", False), Col("value")], area)
        out_console.print(f"cost per device: ${row['cost_usd']:.0f}")
        power_w = row["power_breakdown_w"].items()  # type: ignore[attr-defined]
        watts = [[k, f"{v:.1f}"] for k, v in power_w]
        print_table("full-load power (W)", [Col("component", False), Col("value")], watts)
