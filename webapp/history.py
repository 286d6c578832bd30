"""The history page: the caller's jobs (everyone's on a shared install), newest first, with delete."""
from __future__ import annotations

from flask import Blueprint, current_app, redirect, render_template, request, url_for

from webapp import owners
from webapp.views import runner

bp = Blueprint("history", __name__)


@bp.get("/history")
def index():
    page = runner().store.page(request.args.get("page", 1, type=int), current_app.config["JOBS_PER_PAGE"],
                               owners.history_owner())
    return render_template("history.html", page=page)


@bp.post("/jobs/<job_id>/delete")
def delete(job_id: str):
    store = runner().store
    owners.check_may_delete(store.owner(job_id))
    store.delete(job_id)
    return redirect(url_for("history.index", page=request.form.get("page", 1, type=int)), 303)
