"""`ador-opt dashboard`: optuna-dashboard 0.21 on a study, with Optuna 5 constraints visible.

The mismatch: optuna-dashboard 0.21 serialises a trial's constraints from the old system
attribute `constraints` (a list of floats) only, while Optuna 5's `trial.set_constraint(name,
value)` writes one `constraints:<name>` key per constraint — so without a bridge every trial
looks feasible. A finished trial's attributes cannot be rewritten through Optuna's storage API,
so the bridge is a read-side storage wrapper: `ConstraintBridgeStorage` hands the dashboard
trials whose system attrs also carry the list, in the spec's constraint order
(`ador_spec["constraints"]`, schema), for every trial that lacks it. The store is not modified
by the bridge.

Before serving, `prepare_study` writes what the dashboard can show on the study page: a
markdown note (spec summary, chosen designs beside the presets, metrics), the report's figures
as plotly graph objects (fixed ids, so a second run replaces them), and, with an artifact
directory, the PNGs as study artifacts (older copies of the same file are removed first).
"""

from __future__ import annotations

import contextlib
import copy
import json
import re
import socket
import tempfile
import threading
import warnings
from collections.abc import Callable, Container, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import optuna
from optuna.distributions import CategoricalDistribution
from optuna.storages import BaseStorage
from optuna.study import StudyDirection
from optuna.study._frozen import FrozenStudy
from optuna.trial import FrozenTrial, TrialState

from ador_opt.errors import InputError
from ador_opt.explore.pareto import is_feasible
from ador_opt.redact import redact
from ador_opt.report import figures as fg
from ador_opt.report import interactive, plots
from ador_opt.report.build import Analysis, analyse, markdown_summary, pareto_png_name
from ador_opt.report.load import known_values, load_from_storage, open_storage, pick_study

LEGACY_KEY = "constraints"  # optuna_dashboard._serializer.CONSTRAINTS_KEY
PREFIX = "constraints:"  # optuna.study._constrained_optimization (Optuna 5 per-name keys)
GRAPH_PREFIX = "ador-"  # ids of the plotly graph objects this module writes
METRIC_NAMES_KEY = "study:metric_names"  # optuna.study.study._SYSTEM_ATTR_METRIC_NAMES


def constraint_order(spec: Any) -> list[str]:
    """Constraint names in the spec's order (`ador_spec["constraints"]`: names or tables)."""
    raw = spec.get("constraints") if isinstance(spec, Mapping) else None
    names: list[str] = []
    if isinstance(raw, Mapping):
        names = [str(k) for k in raw]
    elif isinstance(raw, list):
        for item in raw:
            if isinstance(item, str):
                names.append(item)
            elif isinstance(item, Mapping) and "name" in item:
                names.append(str(item["name"]))
    return names


def legacy_constraints(
    system_attrs: Mapping[str, Any], order: Sequence[str]
) -> list[float] | None:
    """The old-format list for a trial that only has `constraints:<name>` keys (None when it
    already has the list or has no constraints). Names outside `order` follow, sorted."""
    if LEGACY_KEY in system_attrs:
        return None
    named = {k[len(PREFIX) :]: v for k, v in system_attrs.items() if k.startswith(PREFIX)}
    if not named:
        return None
    names = [n for n in order if n in named] + sorted(n for n in named if n not in order)
    return [float(named[n]) for n in names]


# Significant digits of the objective values the dashboard shows (its tables and hovers print
# the stored float, e.g. 17 digits; four are more than the model's accuracy).
SHOWN_DIGITS = 4

# Where an infeasible trial's objective was never computed, per objective: (edge, band) of the
# "not evaluated" band beyond the worse end of the known values (`figures.edge_band`, linear:
# the dashboard's Pareto plot has linear axes).
Edges = tuple[tuple[float, float], ...]


def study_edges(
    trials: Sequence[FrozenTrial], objectives: Sequence[str], maximise: Sequence[bool]
) -> Edges:
    known = [
        known_values(t, objectives, is_feasible(t))
        for t in trials
        if t.state == TrialState.COMPLETE and t.values is not None
    ]
    out = []
    for i, up in enumerate(maximise):
        real = [v for k in known if (v := k[i]) is not None]
        _, edge, band = fg.edge_band(real, up, log=False)
        out.append((edge, band))
    return tuple(out)


def shown_values(
    trial: FrozenTrial, objectives: Sequence[str], edges: Edges | None = None
) -> list[float] | None:
    """The values the dashboard draws, rounded to `SHOWN_DIGITS`. An infeasible trial's stored
    values are placeholders at the worst corner (which put every infeasible trial on one dot
    and stretched the axes to the placeholder): it is drawn at its real value of each objective
    where the stages that ran computed it, else — with `edges` — spread over the band just
    beyond the worse end of the axis (by trial number, so a trial keeps its place). None when
    the trial has no values."""
    if trial.values is None:
        return None
    values = list(trial.values)
    if not is_feasible(trial) and trial.state == TrialState.COMPLETE:
        known = known_values(trial, objectives[: len(values)], False)
        spread = (trial.number * 0.6180339887) % 1.0  # golden-ratio sequence: evenly spread
        for i, real in enumerate(known):
            if real is not None:
                values[i] = real
            elif edges is not None and i < len(edges):
                values[i] = edges[i][0] + spread * edges[i][1]
    return [float(f"{v:.{SHOWN_DIGITS}g}") for v in values]


# The display-only parameter that carries an infeasible trial's failed constraints into the
# dashboard's own plots: optuna-dashboard 0.21's Pareto-front hover text is fixed to
# `{number, values, params}` (bundle.js `pb`), so a parameter is the one field it shows.
FAILED_PARAM = "failed_constraint"


def failed_label(trial: FrozenTrial) -> str | None:
    """`area +14 % over (die area ≤ budget.area_mm2)` for each violated constraint of an
    infeasible trial (`; `-joined, spec order as stored), the rejecting stage when no value is
    positive, None for a feasible trial. The value is the relative violation `need/limit − 1`
    (explore/constraints.py): `+14 % over` or `3.2× the limit`."""
    from ador_opt.explore.constraints import CONSTRAINTS

    rejected = str(trial.user_attrs.get("rejected_by", "") or "")
    parts = []
    for name, value in trial.constraints.items():
        if not value > 0:
            continue
        known = CONSTRAINTS.get(name)
        if name == "sanity":  # its value is a flag; the engine's reason says what is wrong
            text = f"sanity: {trial.user_attrs.get('reason') or 'invalid parameters'}"
        else:
            text = f"{name} {_over(value)}"
        parts.append(f"{text} ({known.description})" if known else text)
    if parts:
        return "; ".join(parts)
    return f"rejected by {rejected}" if rejected else None


def _over(violation: float) -> str:
    """`+14 % over` below twice the limit, `3.2× the limit` above (2–3 significant digits)."""
    if violation < 1.0:
        pct = 100 * violation
        return f"+{pct:.2g} % over" if pct < 9.95 else f"+{pct:.0f} % over"
    ratio = 1.0 + violation
    return f"{ratio:.3g}× the limit" if ratio < 100 else f"{ratio:,.0f}× the limit"


def bridge_trial(
    trial: FrozenTrial,
    order: Sequence[str],
    objectives: Sequence[str] = (),
    edges: Edges | None = None,
) -> FrozenTrial:
    values = legacy_constraints(trial.system_attrs, order)
    shown = shown_values(trial, objectives, edges)
    label = failed_label(trial) if trial.state == TrialState.COMPLETE else None
    if (
        values is None
        and label is None
        and shown == (list(trial.values) if trial.values else None)
    ):
        return trial
    bridged = copy.copy(trial)  # never mutate the storage's (possibly cached) object
    if values is not None:
        bridged._system_attrs = {**trial.system_attrs, LEGACY_KEY: values}
    if shown is not None:
        bridged._values = shown
    if label is not None and FAILED_PARAM not in trial.params:
        # First, so the hover text shows it above the knobs; one choice per trial (the
        # dashboard merges the choices of one name into one column of its trials table).
        bridged._params = {FAILED_PARAM: label, **trial.params}
        bridged._distributions = {
            FAILED_PARAM: CategoricalDistribution([label]),
            **trial.distributions,
        }
    return bridged


def redact_attrs(attrs: Mapping[str, Any]) -> dict[str, Any]:
    """Study attrs with every string that holds a storage URL's password masked (stores written
    before the engine redacted `ador_spec.study.storage` still carry it)."""

    def clean(value: Any) -> Any:
        if isinstance(value, str):
            return redact(value)
        if isinstance(value, Mapping):
            return {k: clean(v) for k, v in value.items()}
        if isinstance(value, list):
            return [clean(v) for v in value]
        return value

    return {k: clean(v) for k, v in attrs.items()}


def metric_names_with_units(names: Sequence[str], units: Sequence[str]) -> list[str]:
    """`throughput_per_mm2 (tok/s/mm²)`: the dashboard's axis titles (units from the study's
    `ador_objective_units`, else the metrics registry)."""
    from ador_opt.explore.objectives import unit_of

    out = []
    for i, name in enumerate(names):
        unit = units[i] if i < len(units) and units[i] else unit_of(name)
        out.append(f"{name} ({unit})" if unit and not name.endswith(")") else name)
    return out


# optuna-dashboard 0.21 draws a user-defined plotly figure in a div 450 px high (bundle.js:
# `sx:{height:"450px"}`); a taller figure, or a legend below the plot, is cut at the card edge.
CARD_HEIGHT_PX = 450


def fit_card(fig: Any) -> None:
    """Make `fig` fit the dashboard's card: its height, and the legend inside the figure (a
    horizontal legend at the top, above the plot area) instead of below the axis."""
    fig.update_layout(
        height=CARD_HEIGHT_PX,
        legend={"orientation": "h", "yanchor": "bottom", "y": 1.0, "xanchor": "left", "x": 0.0},
        title={"y": 0.98, "yanchor": "top"},
        margin={"t": 110, "b": 50},
    )


def _with_units(system_attrs: Mapping[str, Any], units: Sequence[str]) -> dict[str, Any]:
    """Study system attrs with the metric names shown with their units (display only)."""
    attrs = dict(system_attrs)
    names = attrs.get(METRIC_NAMES_KEY)
    if isinstance(names, list):
        attrs[METRIC_NAMES_KEY] = metric_names_with_units([str(n) for n in names], units)
    return attrs


class ConstraintBridgeStorage(BaseStorage):
    """Delegates everything to `inner`; trials come back with the old `constraints` list."""

    def __init__(self, inner: BaseStorage) -> None:
        self._inner = inner
        self._orders: dict[int, list[str]] = {}  # study id → constraint names (spec order)
        self._objectives: dict[int, list[str]] = {}  # study id → objective names
        self._trial_study: dict[int, int] = {}  # trial id → study id, from listings
        self._edges: dict[int, Edges] = {}  # study id → "not evaluated" bands, from listings
        self._lock = threading.Lock()

    @property
    def inner(self) -> BaseStorage:
        return self._inner

    def _order(self, study_id: int) -> list[str]:
        with self._lock:
            if study_id not in self._orders:
                attrs = self._inner.get_study_user_attrs(study_id)
                self._orders[study_id] = constraint_order(attrs.get("ador_spec"))
                self._objectives[study_id] = list(attrs.get("ador_objectives") or [])
            return self._orders[study_id]

    def _objective_names(self, study_id: int) -> list[str]:
        self._order(study_id)
        return self._objectives[study_id]

    def __getattr__(self, name: str) -> Any:  # storage-specific extras (e.g. RDB helpers)
        return getattr(self._inner, name)

    # --- reads that the bridge rewrites ------------------------------------------------------
    def get_trial(self, trial_id: int) -> FrozenTrial:
        trial = self._inner.get_trial(trial_id)
        with self._lock:
            study_id = self._trial_study.get(trial_id)
            edges = self._edges.get(study_id) if study_id is not None else None
        if study_id is not None:
            order, objectives = self._order(study_id), self._objective_names(study_id)
            return bridge_trial(trial, order, objectives, edges)
        # Not seen in a listing yet: the trial's own `constraints` user attr keeps the order.
        own = trial.user_attrs.get("constraints")
        return bridge_trial(trial, list(own) if isinstance(own, dict) else [])

    def get_all_trials(
        self, study_id: int, deepcopy: bool = True, states: Container[TrialState] | None = None
    ) -> list[FrozenTrial]:
        order = self._order(study_id)
        trials = self._inner.get_all_trials(study_id, deepcopy=deepcopy, states=states)
        objectives = self._objective_names(study_id)
        maximise = [
            d == StudyDirection.MAXIMIZE for d in self._inner.get_study_directions(study_id)
        ]
        edges = study_edges(trials, objectives, maximise)
        with self._lock:
            self._trial_study.update((t._trial_id, study_id) for t in trials)
            self._edges[study_id] = edges
        return [bridge_trial(t, order, objectives, edges) for t in trials]

    def get_trial_system_attrs(self, trial_id: int) -> dict[str, Any]:
        return dict(self.get_trial(trial_id).system_attrs)

    def get_best_trial(self, study_id: int) -> FrozenTrial:
        order = self._order(study_id)
        best = self._inner.get_best_trial(study_id)
        with self._lock:
            edges = self._edges.get(study_id)
        return bridge_trial(best, order, self._objective_names(study_id), edges)

    # --- plain delegation ------------------------------------------------------------------
    def create_new_study(
        self, directions: Sequence[StudyDirection], study_name: str | None = None
    ) -> int:
        return self._inner.create_new_study(directions, study_name)

    def delete_study(self, study_id: int) -> None:
        self._inner.delete_study(study_id)

    def set_study_user_attr(self, study_id: int, key: str, value: Any) -> None:
        self._inner.set_study_user_attr(study_id, key, value)

    def set_study_system_attr(self, study_id: int, key: str, value: Any) -> None:
        self._inner.set_study_system_attr(study_id, key, value)

    def get_study_id_from_name(self, study_name: str) -> int:
        return self._inner.get_study_id_from_name(study_name)

    def get_study_name_from_id(self, study_id: int) -> str:
        return self._inner.get_study_name_from_id(study_id)

    def get_study_directions(self, study_id: int) -> list[StudyDirection]:
        return self._inner.get_study_directions(study_id)

    def get_study_user_attrs(self, study_id: int) -> dict[str, Any]:
        return redact_attrs(self._inner.get_study_user_attrs(study_id))

    def get_study_system_attrs(self, study_id: int) -> dict[str, Any]:
        attrs = redact_attrs(self._inner.get_study_system_attrs(study_id))
        units = self._inner.get_study_user_attrs(study_id).get("ador_objective_units") or []
        return _with_units(attrs, units)

    def get_all_studies(self) -> list[FrozenStudy]:
        out = []
        for study in self._inner.get_all_studies():
            shown = copy.copy(study)  # never mutate the storage's object
            units = study.user_attrs.get("ador_objective_units") or []
            shown.user_attrs = redact_attrs(study.user_attrs)
            shown.system_attrs = _with_units(redact_attrs(study.system_attrs), units)
            out.append(shown)
        return out

    def create_new_trial(self, study_id: int, template_trial: FrozenTrial | None = None) -> int:
        return self._inner.create_new_trial(study_id, template_trial)

    def set_trial_param(
        self, trial_id: int, param_name: str, param_value_internal: float, distribution: Any
    ) -> None:
        self._inner.set_trial_param(trial_id, param_name, param_value_internal, distribution)

    def get_trial_id_from_study_id_trial_number(self, study_id: int, trial_number: int) -> int:
        return self._inner.get_trial_id_from_study_id_trial_number(study_id, trial_number)

    def get_trial_number_from_id(self, trial_id: int) -> int:
        return self._inner.get_trial_number_from_id(trial_id)

    def get_trial_param(self, trial_id: int, param_name: str) -> float:
        return self._inner.get_trial_param(trial_id, param_name)

    def set_trial_state_values(
        self, trial_id: int, state: TrialState, values: Sequence[float] | None = None
    ) -> bool:
        return self._inner.set_trial_state_values(trial_id, state, values)

    def set_trial_intermediate_value(
        self, trial_id: int, step: int, intermediate_value: float
    ) -> None:
        self._inner.set_trial_intermediate_value(trial_id, step, intermediate_value)

    def set_trial_user_attr(self, trial_id: int, key: str, value: Any) -> None:
        self._inner.set_trial_user_attr(trial_id, key, value)

    def set_trial_system_attr(self, trial_id: int, key: str, value: Any) -> None:
        self._inner.set_trial_system_attr(trial_id, key, value)

    def get_n_trials(
        self, study_id: int, state: tuple[TrialState, ...] | TrialState | None = None
    ) -> int:
        return self._inner.get_n_trials(study_id, state)

    def get_trial_params(self, trial_id: int) -> dict[str, Any]:
        return self._inner.get_trial_params(trial_id)

    def get_trial_user_attrs(self, trial_id: int) -> dict[str, Any]:
        return self._inner.get_trial_user_attrs(trial_id)

    def remove_session(self) -> None:
        self._inner.remove_session()

    def check_trial_is_updatable(self, trial_id: int, trial_state: TrialState) -> None:
        self._inner.check_trial_is_updatable(trial_id, trial_state)


# --- what the dashboard shows besides the trials ----------------------------------------------


@dataclass(frozen=True, slots=True)
class Prepared:
    study_name: str
    study_id: int
    note_chars: int
    graph_ids: tuple[str, ...]
    artifacts: tuple[str, ...]
    analysis: Analysis


def _replace_artifacts(study: optuna.Study, store: Any, files: Sequence[Path]) -> list[str]:
    """Upload `files` as study artifacts, first removing older artifacts of the same name."""
    from optuna.artifacts import upload_artifact

    names = {p.name for p in files}
    for key, value in study._storage.get_study_system_attrs(study._study_id).items():
        if not key.startswith("artifacts:") or not isinstance(value, str):
            continue
        meta = json.loads(value)
        if isinstance(meta, dict) and meta.get("filename") in names:
            # Already gone from the directory: only the attribute is left to clear.
            with contextlib.suppress(Exception):
                store.remove(meta["artifact_id"])
            study._storage.set_study_system_attr(study._study_id, key, json.dumps(None))
    return [
        upload_artifact(artifact_store=store, file_path=str(p), study_or_trial=study)
        for p in files
    ]


def prepare_study(
    store: str,
    study_name: str | None = None,
    artifact_dir: Path | None = None,
    *,
    baselines: bool = True,
) -> Prepared:
    """Write the note, the plotly figures and (optionally) the PNG artifacts into the study."""
    from optuna_dashboard import get_note, save_note, save_plotly_graph_object

    storage = open_storage(store)
    name, study_id = pick_study(storage, study_name, store)
    data = load_from_storage(storage, name, study_id, store)
    a = analyse(data, baselines=baselines)
    study = optuna.load_study(study_name=name, storage=storage)
    if study.metric_names is None and len(data.objectives) == len(study.directions):
        with warnings.catch_warnings():  # experimental since Optuna 3.2, stable in use
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            study.set_metric_names(list(data.objectives))
    note = markdown_summary(a)
    if get_note(study) != note:
        save_note(study, note)
    figs = []
    front = fg.front_numbers(data)
    for i, j in fg.objective_pairs(len(data.objectives)):
        pair = fg.pair_data(data, i, j, front, a.chosen, a.baselines)
        title = f"ador-opt: {data.objectives[j]} vs {data.objectives[i]}"
        figs.append((f"{GRAPH_PREFIX}pareto-{i}-{j}", interactive.pareto_figure(pair, title)))
    figs.append(
        (
            f"{GRAPH_PREFIX}hypervolume",
            interactive.hypervolume_figure(a.history, "ador-opt: hypervolume history"),
        )
    )
    figs.append(
        (
            f"{GRAPH_PREFIX}area",
            interactive.area_figure(
                a.entries, "ador-opt: die-area breakdown (chosen designs and presets)"
            ),
        )
    )
    for gid, fig in figs:
        fit_card(fig)
        save_plotly_graph_object(study, fig, graph_object_id=gid)
    artifacts: list[str] = []
    if artifact_dir is not None:
        from optuna.artifacts import FileSystemArtifactStore

        artifact_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp)
            files = []
            for i, j in fg.objective_pairs(len(data.objectives)):
                pair = fg.pair_data(data, i, j, front, a.chosen, a.baselines)
                files.append(
                    plots.pareto_png(
                        pair,
                        f"{name}: {data.objectives[j]} vs {data.objectives[i]}",
                        out / pareto_png_name(data, i, j),
                    )
                )
            files.append(
                plots.hypervolume_png(
                    a.history, f"{name}: hypervolume history", out / "hypervolume.png"
                )
            )
            files.append(
                plots.area_png(a.entries, "die-area breakdown", out / "area_breakdown.png")
            )
            artifacts = _replace_artifacts(
                study, FileSystemArtifactStore(str(artifact_dir)), files
            )
    return Prepared(name, study_id, len(note), tuple(g for g, _ in figs), tuple(artifacts), a)


# --- serving ------------------------------------------------------------------------------------


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        return None


class _ThreadingServer(WSGIServer):
    """wsgiref with one thread per request (the browser loads several resources at once)."""

    daemon_threads = True

    def process_request(self, request: Any, client_address: Any) -> None:
        threading.Thread(target=self._handle, args=(request, client_address), daemon=True).start()

    def _handle(self, request: Any, client_address: Any) -> None:
        try:
            self.finish_request(request, client_address)
        except Exception:
            self.handle_error(request, client_address)
        finally:
            self.shutdown_request(request)


def check_port(host: str, port: int) -> None:
    """Fail early (exit 2) when the address cannot be bound."""
    if not 0 < port < 65536:
        raise InputError(f"--port must be 1…65535, got {port}")
    try:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        with socket.socket(family, socket.SOCK_STREAM) as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind((host, port))
    except OSError as exc:
        raise InputError(f"cannot listen on {host}:{port}: {exc.strerror}") from None


IMPORTANCES_PATH = re.compile(r"^/api/studies/\d+/param_importances$")


def drop_label_importance(body: bytes) -> bytes:
    """The importances response without `FAILED_PARAM` (a display label, not a knob: the
    dashboard's PED-ANOVA would list it as a hyperparameter)."""
    try:
        doc = json.loads(body)
    except ValueError:
        return body
    per_objective = doc.get("param_importances") if isinstance(doc, dict) else None
    if not isinstance(per_objective, list):
        return body
    doc["param_importances"] = [
        [x for x in imps if not (isinstance(x, dict) and x.get("name") == FAILED_PARAM)]
        if isinstance(imps, list)
        else imps
        for imps in per_objective
    ]
    return json.dumps(doc).encode()


def without_label_importance(app: Any) -> Any:
    """WSGI middleware: `drop_label_importance` on the param-importances route only."""

    def wrapped(environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        if not IMPORTANCES_PATH.match(environ.get("PATH_INFO", "")):
            return app(environ, start_response)
        seen: list[Any] = []

        def capture(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            seen[:] = [status, headers, exc_info]
            return lambda data: None  # the legacy write() callable: bottle does not use it

        chunks = app(environ, capture)
        try:
            body = drop_label_importance(b"".join(chunks))
        finally:
            if hasattr(chunks, "close"):
                chunks.close()
        status, headers, exc_info = seen
        headers = [(k, v) for k, v in headers if k.lower() != "content-length"]
        start_response(status, [*headers, ("Content-Length", str(len(body)))], exc_info)
        return [body]

    return wrapped


def make_app(store: str, artifact_dir: Path | None) -> Any:
    """The optuna-dashboard WSGI app on the bridged storage."""
    from optuna_dashboard import wsgi

    artifact_store = None
    if artifact_dir is not None:
        from optuna.artifacts import FileSystemArtifactStore

        artifact_store = FileSystemArtifactStore(str(artifact_dir))
    app = wsgi(ConstraintBridgeStorage(open_storage(store)), artifact_store=artifact_store)
    return without_label_importance(app)


def serve(
    store: str,
    host: str,
    port: int,
    artifact_dir: Path | None,
    ready: Callable[[str], None] | None = None,
) -> None:
    """Serve until interrupted. `ready(url)` is called once the socket listens."""
    app = make_app(store, artifact_dir)
    try:
        server = make_server(
            host, port, app, server_class=_ThreadingServer, handler_class=_QuietHandler
        )
    except OSError as exc:
        raise InputError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    with server:
        if ready is not None:
            ready(f"http://{host}:{server.server_port}/dashboard/")
        server.serve_forever()
