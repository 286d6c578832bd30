"""Backdrop's web layer: ``create_app`` builds the Flask app; ``wsgi.py`` exposes one for gunicorn.

Start-up does the slow, failure-prone work once: read settings, prepare the job store (removing
temporaries a crash left), and load every model, so the first request is as fast as any other and a
missing weights file stops the server at boot with a clear message.
"""
from __future__ import annotations

from typing import Any, Mapping

import numpy as np
from flask import Flask

from webapp import api, assets, compare, health, history, idphoto, memory, pages, security
from webapp.cli import purge_command
from webapp.config import REPO_ROOT, finalize, settings_from_env
from webapp.errors import register_error_handlers
from webapp.jobstore import JobStore
from webapp.model_pool import ModelPool
from webapp.runner import JobRunner
from webapp.template_helpers import register_template_helpers

# Every area of the app is one blueprint; adding an area is one line here (and a nav link in base.html).
BLUEPRINTS = [assets.bp, pages.bp, compare.bp, history.bp, api.bp, health.bp, idphoto.bp]


def check_models(models: ModelPool) -> None:
    """Run every model once on a plain grey picture: weights that load but compute NaN (a broken
    export) stop start-up here with ModelError naming the file, instead of failing users' uploads."""
    grey = np.full((64, 64, 3), 128, np.uint8)
    for name in models.names:
        models.segment(name, grey)


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """Build the app: settings from ``BACKDROP_*`` variables, overridden by ``config`` (tests)."""
    app = Flask(__name__, template_folder=str(REPO_ROOT / "templates"),
                static_folder=str(REPO_ROOT / "static"))
    app.config.update(settings_from_env())
    app.config.update(config or {})
    finalize(app.config)
    memory.init_app(app)  # before any thread allocates: flat memory over weeks (webapp/memory.py)

    store = JobStore(app.config["DATA_DIR"], app.config["DATABASE_URL"])
    removed = store.prepare()
    if removed:
        app.logger.info("removed %d temporary files left by an earlier run", removed)
    models = ModelPool(app.config["WEIGHTS_DIR"], app.config["WORKER_THREADS"], tta=app.config["TTA"])
    check_models(models)
    if app.config["DEFAULT_MODEL"] not in models.names:
        raise ValueError(f"BACKDROP_DEFAULT_MODEL={app.config['DEFAULT_MODEL']!r} is not one of {models.names}")
    app.extensions["backdrop"] = JobRunner(store, models, app.config["MAX_PIXELS"])

    for blueprint in BLUEPRINTS:
        app.register_blueprint(blueprint)
    register_error_handlers(app)
    register_template_helpers(app)
    security.init_app(app)  # CSRF, API key, rate limit, request limits, headers (docs/reliability.md)
    app.cli.add_command(purge_command)
    return app
