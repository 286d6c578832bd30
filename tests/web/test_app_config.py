"""create_app settings from the environment, start-up checks, and the purge commands."""
from __future__ import annotations

import numpy as np
import pytest
from click.testing import CliRunner

from ml.errors import ModelError
from webapp import BLUEPRINTS, create_app
from webapp.config import settings_from_env
from tests.stored import backdate
from webapp.purge import main as purge_main

from .conftest import job_id_from, upload


def test_settings_come_from_the_environment(tmp_path):
    settings = settings_from_env({"BACKDROP_DATA_DIR": str(tmp_path), "BACKDROP_MAX_UPLOAD_MB": "7.5",
                                  "BACKDROP_MAX_PIXELS": "1234", "BACKDROP_DEFAULT_MODEL": "mobile-unet",
                                  "BACKDROP_WORKER_THREADS": "3"})
    assert settings["DATA_DIR"] == tmp_path and settings["MAX_UPLOAD_MB"] == 7.5
    assert (settings["MAX_PIXELS"], settings["DEFAULT_MODEL"], settings["WORKER_THREADS"]) == (1234, "mobile-unet", 3)
    with pytest.raises(ValueError, match="BACKDROP_MAX_PIXELS"):
        settings_from_env({"BACKDROP_MAX_PIXELS": "lots"})


def test_app_uses_environment_settings(tmp_path, monkeypatch, photo, form_client_class):
    monkeypatch.setenv("BACKDROP_DATA_DIR", str(tmp_path / "envdata"))
    monkeypatch.setenv("BACKDROP_DEFAULT_MODEL", "mobile-unet")
    monkeypatch.setenv("BACKDROP_MAX_UPLOAD_MB", "1")
    app = create_app()
    assert app.config["MAX_CONTENT_LENGTH"] == 1024 * 1024
    app.test_client_class = form_client_class
    client = app.test_client()
    assert 'value="mobile-unet" checked' in client.get("/").get_data(as_text=True)
    job_id = job_id_from(upload(client, image=photo).headers["Location"])
    assert (tmp_path / "envdata" / "backdrop.db").exists() and (tmp_path / "envdata" / "jobs" / job_id).is_dir()
    assert app.extensions["backdrop"].store.load(job_id)["renders"][0]["model"] == "mobile-unet"


def test_start_up_fails_fast_without_weights(tmp_path):
    with pytest.raises(ModelError, match="no weights file"):
        create_app({"DATA_DIR": tmp_path, "WEIGHTS_DIR": tmp_path / "nothing"})
    with pytest.raises(ValueError, match="DEFAULT_MODEL"):
        create_app({"DATA_DIR": tmp_path, "DEFAULT_MODEL": "nope"})


def test_start_up_cleans_leftover_temporaries(tmp_path):
    (tmp_path / "tmp" / "deadbeef").mkdir(parents=True)
    (tmp_path / "tmp" / "deadbeef" / "half.png").write_bytes(b"x")
    create_app({"DATA_DIR": tmp_path})
    assert list((tmp_path / "tmp").iterdir()) == []


def test_every_blueprint_is_registered_from_the_one_list(app):
    assert [bp.name for bp in BLUEPRINTS] == [name for name in app.blueprints]
    assert not any(rule.endpoint.startswith("static") and "vendor" in rule.rule for rule in app.url_map.iter_rules()
                   if not rule.endpoint.startswith("jquery"))


def test_flask_purge_command(app, client, data_dir, photo):
    old = job_id_from(upload(client, image=photo).headers["Location"])
    new = job_id_from(upload(client, image=photo).headers["Location"])
    backdate(app.extensions["backdrop"].store, old, 48)
    runner = app.test_cli_runner()
    dry = runner.invoke(args=["purge", "--older-than", "24h", "--dry-run"])
    assert dry.exit_code == 0 and "would delete 1 job(s)" in dry.output and (data_dir / "jobs" / old).exists()
    result = runner.invoke(args=["purge", "--older-than", "24h"])
    assert result.exit_code == 0 and "deleted 1 job(s)" in result.output
    assert not (data_dir / "jobs" / old).exists() and (data_dir / "jobs" / new).exists()
    bad = runner.invoke(args=["purge", "--older-than", "soon"])
    assert bad.exit_code != 0 and "30m, 24h or 7d" in bad.output


def test_python_m_purge_needs_no_models(client, store, data_dir, photo, monkeypatch):
    old = job_id_from(upload(client, image=photo).headers["Location"])
    backdate(store, old, 3 * 24)
    monkeypatch.setenv("BACKDROP_DATA_DIR", str(data_dir))
    result = CliRunner().invoke(purge_main, ["--older-than", "2d"])
    assert result.exit_code == 0 and "deleted 1 job(s) older than 2d" in result.output
    assert not (data_dir / "jobs" / old).exists()


def test_tta_setting_reaches_the_served_segmenters(tmp_path):
    from ml.registry import DEFAULT_WEIGHTS_DIR, load_runtime
    from ml.segmenter import Segmenter
    from webapp.model_pool import ModelPool

    assert settings_from_env({})["TTA"] is True
    assert settings_from_env({"BACKDROP_TTA": "off"})["TTA"] is False
    rng = np.random.default_rng(3)
    rgb = np.zeros((120, 90, 3), np.uint8)
    rgb[20:110, 10:50] = rng.integers(0, 255, (90, 40, 3))       # a lopsided subject: mirroring matters
    with_tta = ModelPool(DEFAULT_WEIGHTS_DIR, 1, ["sinet"], tta=True).segment("sinet", rgb).alpha
    without = ModelPool(DEFAULT_WEIGHTS_DIR, 1, ["sinet"], tta=False).segment("sinet", rgb).alpha
    expected = Segmenter(load_runtime("sinet"), tta=True).segment(rgb).alpha
    assert np.array_equal(with_tta, expected)
    assert not np.array_equal(with_tta, without)
