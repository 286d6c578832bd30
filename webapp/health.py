"""Liveness for load balancers and ``make run`` users: which models this process has loaded."""
from __future__ import annotations

from flask import Blueprint, jsonify

from webapp.template_helpers import runner

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz():
    models = runner().models
    return jsonify({"status": "ok", "models": [{"name": m["name"], "input_size": m["input_size"],
                                                 "status": m["status"]} for m in models.describe()],
                    "load_ms": models.load_ms})
