"""The history page: every job, newest first, with delete."""
from __future__ import annotations

from flask import Blueprint, current_app, redirect, render_template, request, url_for

from webapp.views import runner

bp = Blueprint("history", __name__)


@bp.get("/history")
def index():
    page = runner().store.page(request.args.get("page", 1, type=int), current_app.config["JOBS_PER_PAGE"])
    return render_template("history.html", page=page)


@bp.post("/jobs/<job_id>/delete")
def delete(job_id: str):
    runner().store.delete(job_id)
    return redirect(url_for("history.index", page=request.form.get("page", 1, type=int)), 303)
