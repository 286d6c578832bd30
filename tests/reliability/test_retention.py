"""Privacy: jobs (the original photo and every result) are deleted once older than the retention
setting, 24 hours unless BACKDROP_RETENTION says otherwise, by either purge command."""
from __future__ import annotations

import io
import os
import subprocess
import sys

import pytest
from click.testing import CliRunner

from tests.stored import backdate
from webapp import create_app
from webapp.config import REPO_ROOT
from webapp.purge import main as purge_main

from .conftest import TEST_CONFIG, encode, portrait


def make_jobs(app, ages_h: list[float]) -> list[str]:
    """One job per age (hours), stored through the API and then back-dated."""
    client = app.test_client()
    ids = []
    for age in ages_h:
        response = client.post("/api/v1/remove-background",
                               data={"image": (io.BytesIO(encode(portrait())), "p.jpg", "image/jpeg")})
        ids.append(response.headers["X-Job-Id"])
        backdate(app.extensions["backdrop"].store, ids[-1], age)
    return ids


def remaining(data_dir) -> set[str]:
    return {p.name for p in (data_dir / "jobs").iterdir()}


def test_default_retention_is_24_hours(data_dir, monkeypatch):
    monkeypatch.delenv("BACKDROP_RETENTION", raising=False)
    app = create_app({**TEST_CONFIG, "DATA_DIR": data_dir})
    assert app.config["RETENTION"] == "24h"
    old, fresh = make_jobs(app, [24.5, 23.5])
    monkeypatch.setenv("BACKDROP_DATA_DIR", str(data_dir))
    result = CliRunner().invoke(purge_main, [])
    assert result.exit_code == 0 and "deleted 1 job(s) older than 24h" in result.output
    assert remaining(data_dir) == {fresh}
    assert not list(data_dir.rglob(f"*{old}*"))  # original, previews, masks, results: all gone


def test_retention_from_the_environment(data_dir, monkeypatch):
    monkeypatch.setenv("BACKDROP_RETENTION", "2h")
    monkeypatch.setenv("BACKDROP_DATA_DIR", str(data_dir))
    app = create_app({**TEST_CONFIG, "DATA_DIR": data_dir})
    old, fresh = make_jobs(app, [3, 1])
    dry = app.test_cli_runner().invoke(args=["purge", "--dry-run"])
    assert dry.exit_code == 0 and "would delete 1 job(s) older than 2h" in dry.output
    assert remaining(data_dir) == {old, fresh}
    result = app.test_cli_runner().invoke(args=["purge"])
    assert result.exit_code == 0 and remaining(data_dir) == {fresh}
    explicit = CliRunner().invoke(purge_main, ["--older-than", "30m"])  # an explicit age still wins
    assert explicit.exit_code == 0 and remaining(data_dir) == set()


@pytest.mark.parametrize("value", ["soon", "0h", "-1d", "24"])
def test_a_bad_retention_stops_start_up(data_dir, monkeypatch, value):
    monkeypatch.setenv("BACKDROP_RETENTION", value)
    with pytest.raises(ValueError, match="BACKDROP_RETENTION"):
        create_app({**TEST_CONFIG, "DATA_DIR": data_dir})
    assert CliRunner().invoke(purge_main, []).exit_code != 0


def test_purge_from_cron_while_the_server_runs(data_dir):
    """The cron line from docs/reliability.md, as a real process, next to a live app on the same data."""
    app = create_app({**TEST_CONFIG, "DATA_DIR": data_dir})
    old, fresh = make_jobs(app, [30, 1])
    (data_dir / "tmp" / "99999999-deadbeef").mkdir()  # a temporary whose writer is long gone
    env = {**os.environ, "BACKDROP_DATA_DIR": str(data_dir), "PYTHONPATH": str(REPO_ROOT)}
    env.pop("BACKDROP_RETENTION", None)
    done = subprocess.run([sys.executable, "-m", "webapp.purge"], cwd=REPO_ROOT, env=env, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "deleted 1 job(s) older than 24h" in done.stdout
    client = app.test_client()
    assert client.get(f"/api/v1/jobs/{old}").status_code == 404
    assert client.get(f"/api/v1/jobs/{fresh}").status_code == 200
    assert list((data_dir / "tmp").iterdir()) == []
