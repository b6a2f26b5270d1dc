"""Secrets never leave the process: no storage password in any output, file or stored attr.

Error paths run against an unreachable server (127.0.0.1 port 1), so they need no database.
The live checks (stored spec, report HTML, the dashboard's `/api/studies`) need PostgreSQL
(`ADOR_TEST_PG_URL` or `.ci/pg_url`); as root with the local cluster they use a role with a
distinctive password, otherwise the URL's own password in its credential forms.
"""

from __future__ import annotations

import json
import os
import subprocess
import urllib.parse
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import run_cli
from tests.explore_fixtures import write_spec
from tests.test_study_reliability import _pg_url

SECRET = "Zq9-s3cret-pw15"
DEAD = "127.0.0.1:1"  # nothing listens on port 1: every driver fails to connect
URL_FORMS = {
    "postgresql": f"postgresql://alice:{SECRET}@{DEAD}/db",
    "postgres": f"postgres://alice:{SECRET}@{DEAD}/db",
    "psycopg2": f"postgresql+psycopg2://alice:{SECRET}@{DEAD}/db",
    "mysql": f"mysql://alice:{SECRET}@{DEAD}/db",
    "query": f"postgresql://alice@{DEAD}/db?password={SECRET}&sslmode=disable",
    "query_second": f"postgresql://alice@{DEAD}/db?sslmode=disable&password={SECRET}",
}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (f"postgresql://u:{SECRET}@h:5432/d", "postgresql://u:***@h:5432/d"),
        (f"postgres://u:{SECRET}@h/d", "postgres://u:***@h/d"),
        (f"mysql+pymysql://root:{SECRET}@h/d?charset=utf8", "mysql+pymysql://root:***@h/d?charset=utf8"),
        (f"postgresql://u:p@ss:{SECRET}@h/d", "postgresql://u:***@h/d"),  # '@' in the password
        (f"postgresql://u@h/d?password={SECRET}&x=1", "postgresql://u@h/d?password=***&x=1"),
        (f"failed: host=h password={SECRET} dbname=d", "failed: host=h password=*** dbname=d"),
        (f"dsn password='{SECRET} x' user=u", "dsn password=*** user=u"),
        (f"(url 'postgresql://u:{SECRET}@h/d')", "(url 'postgresql://u:***@h/d')"),
        ("sqlite:////tmp/a.db", "sqlite:////tmp/a.db"),
        ("postgresql://h/d", "postgresql://h/d"),
    ],
)  # fmt: skip
def test_redact_masks_every_url_form(text: str, expected: str) -> None:
    from ador_opt.redact import redact

    assert redact(text) == expected


def _commands(url: str, spec: Path, out: Path) -> dict[str, list[str]]:
    return {
        "optimize": ["optimize", str(spec), "--storage", url, "--json"],
        "resume": ["resume", url, "--json"],
        "worker": ["worker", "--storage", url, "--study", "tiny", "--json"],
        "pareto": ["pareto", url, "--json"],
        "report": ["report", url, "--out", str(out), "--json"],
        "dashboard": ["dashboard", url, "--prepare-only", "--json"],
    }


@pytest.mark.parametrize("form", sorted(URL_FORMS))
@pytest.mark.parametrize(
    "command", ["optimize", "resume", "worker", "pareto", "report", "dashboard"]
)
def test_errors_never_print_the_password(tmp_path: Path, form: str, command: str) -> None:
    spec = write_spec(tmp_path, n_trials=1, sampler="random")
    args = _commands(URL_FORMS[form], spec, tmp_path / "rep")[command]
    result = run_cli(*args, cwd=tmp_path, timeout=120)
    assert result.code in (1, 2), (result.code, result.stderr[-500:])
    assert SECRET not in result.stdout + result.stderr
    lines = [ln for ln in result.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr[-1500:]
    assert not any(SECRET in p.name for p in tmp_path.rglob("*"))
    for p in tmp_path.rglob("*"):
        if p.is_file():
            assert SECRET.encode() not in p.read_bytes(), p


# --- against a live server ---------------------------------------------------------------------
def _as_postgres(sql: str) -> bool:
    """Run SQL as the cluster's superuser (root + local cluster only, as in CI)."""
    if os.geteuid() != 0:
        return False
    proc = subprocess.run(
        ["su", "postgres", "-c", f'psql -qAtc "{sql}"'], capture_output=True, text=True
    )
    return proc.returncode == 0


@pytest.fixture(scope="module")
def pg_secret_url() -> Iterator[tuple[str, list[str]]]:
    """A fresh database of our own (`ador_wt15_*`) and the URL to reach it, plus the strings
    that must never appear (the password in its credential forms)."""
    base = _pg_url()
    if base is None:
        pytest.skip("no PostgreSQL: set ADOR_TEST_PG_URL or run .ci/start_postgres.sh")
    import sqlalchemy

    from ador_opt.explore.storage import resolve_store

    parts = urllib.parse.urlsplit(base)
    user, password = parts.username or "", parts.password or ""
    if _as_postgres(
        "DO \\$\\$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname='ador_wt15_secret') "
        f"THEN CREATE ROLE ador_wt15_secret LOGIN PASSWORD '{SECRET}' CREATEDB; END IF; "
        "END \\$\\$;"
    ):
        user, password = "ador_wt15_secret", SECRET
    host = parts.hostname or "127.0.0.1"
    port = parts.port or 5432
    admin_url = f"postgresql://{user}:{password}@{host}:{port}/postgres"
    admin = sqlalchemy.create_engine(
        resolve_store(admin_url).url, isolation_level="AUTOCOMMIT", pool_pre_ping=True
    )
    db = f"ador_wt15_{uuid.uuid4().hex[:8]}"
    with admin.connect() as conn:
        conn.execute(sqlalchemy.text(f"CREATE DATABASE {db}"))
    forbidden = [f":{password}@", f"password={password}"] + (
        [password] if password == SECRET else []
    )
    try:
        yield f"postgresql://{user}:{password}@{host}:{port}/{db}", forbidden
    finally:
        with admin.connect() as conn:
            conn.execute(sqlalchemy.text(f"DROP DATABASE IF EXISTS {db} WITH (FORCE)"))
        admin.dispose()


def _clean(text: str, forbidden: list[str]) -> None:
    for needle in forbidden:
        assert needle not in text, needle


@pytest.mark.postgres
def test_no_password_in_outputs_stored_attrs_report_or_dashboard(
    tmp_path: Path, pg_secret_url: tuple[str, list[str]]
) -> None:
    import optuna

    from ador_opt.explore.storage import resolve_store
    from tests.test_dashboard import DashboardProcess, get_json

    url, forbidden = pg_secret_url
    spec = write_spec(tmp_path, n_trials=3, sampler="random")
    user_part = url.split("://", 1)[1].split("@", 1)[0]
    query_url = (
        url.replace(f"{user_part}@", f"{user_part.split(':')[0]}@")
        + "?password="
        + (user_part.split(":", 1)[1])
    )
    for storage in (url, query_url):
        res = run_cli("optimize", str(spec), "--storage", storage, "--json", cwd=tmp_path)
        assert res.code == 0, res.stderr
        _clean(res.stdout + res.stderr, forbidden)
        assert "***" in json.loads(res.stdout)["storage"]
    for args in (
        ["resume", url, "--n-trials", "4", "--json"],
        ["pareto", url, "--json"],
        ["worker", "--storage", url, "--study", "tiny", "--n-trials", "5", "--json"],
    ):
        res = run_cli(*args, cwd=tmp_path)  # fmt: skip
        assert res.code == 0, res.stderr
        _clean(res.stdout + res.stderr, forbidden)
    storage = optuna.storages.RDBStorage(resolve_store(url).url)
    study = optuna.load_study(study_name="tiny", storage=storage)
    stored = json.dumps(study.user_attrs) + json.dumps(
        storage.get_study_system_attrs(study._study_id)
    )
    _clean(stored, forbidden)
    assert "***" in study.user_attrs["ador_spec"]["study"]["storage"]
    for t in study.trials:
        _clean(json.dumps(t.user_attrs) + json.dumps(t.system_attrs), forbidden)
    storage.engine.dispose()
    rep = run_cli("report", url, "--out", str(tmp_path / "rep"), "--json", cwd=tmp_path)
    assert rep.code == 0, rep.stderr
    _clean(rep.stdout + rep.stderr, forbidden)
    for p in (tmp_path / "rep").iterdir():
        _clean(p.read_bytes().decode("utf-8", "replace"), forbidden)
    prep = run_cli("dashboard", url, "--prepare-only", "--json", cwd=tmp_path)
    assert prep.code == 0, prep.stderr
    _clean(prep.stdout + prep.stderr, forbidden)
    server = DashboardProcess(url, "--no-prepare")  # type: ignore[arg-type]
    try:
        studies = get_json(f"{server.base}/api/studies")
        detail = get_json(f"{server.base}/api/studies/{server.info['study_id']}")
    finally:
        server.stop()
    _clean(json.dumps(studies) + json.dumps(detail) + json.dumps(server.info), forbidden)


@pytest.mark.postgres
def test_dashboard_hides_a_password_stored_by_an_older_version(
    pg_secret_url: tuple[str, list[str]],
) -> None:
    """Stores written before the fix carry the plaintext URL in `ador_spec.study.storage`; the
    dashboard's storage wrapper masks it on the way out."""
    import optuna

    from ador_opt.explore.storage import resolve_store
    from ador_opt.report.dashboard import ConstraintBridgeStorage

    url, forbidden = pg_secret_url
    storage = optuna.storages.RDBStorage(resolve_store(url).url)
    study = optuna.create_study(storage=storage, study_name=f"old-{uuid.uuid4().hex[:6]}")
    study.set_user_attr("ador_spec", {"study": {"storage": url}, "constraints": []})
    bridge = ConstraintBridgeStorage(storage)
    shown = [s for s in bridge.get_all_studies() if s.study_name == study.study_name]
    _clean(json.dumps(shown[0].user_attrs), forbidden)
    _clean(json.dumps(bridge.get_study_user_attrs(study._study_id)), forbidden)
    assert url in json.dumps(storage.get_study_user_attrs(study._study_id))  # store untouched
    storage.engine.dispose()
