"""The history page: every job, newest first, with delete (one job, or every job ticked)."""
from __future__ import annotations

from flask import Blueprint, current_app, redirect, render_template, request, url_for

from webapp.errors import FieldError
from webapp.jobstore import JobNotFound
from webapp.views import runner

bp = Blueprint("history", __name__)


@bp.get("/history")
def index():
    page = runner().store.page(request.args.get("page", 1, type=int), current_app.config["JOBS_PER_PAGE"])
    return render_template("history.html", page=page)


@bp.post("/jobs/<job_id>/delete")
@bp.post("/history/delete")
def delete(job_id: str | None = None):
    """One job (its own button), or the jobs ticked on the page ("Delete selected").

    Both routes are this one view, so the API-key rule for deletes (``security.DELETE_ENDPOINTS``)
    covers both. A ticked job already gone (deleted in another tab) is skipped, not an error.
    """
    store = runner().store
    if job_id is not None:
        store.delete(job_id)
    else:
        ticked = request.form.getlist("job")
        if not ticked:
            raise FieldError("job", "job: no job was ticked; tick the jobs to delete first.", 400)
        for one in ticked:
            try:
                store.delete(one)
            except JobNotFound:
                continue
    return redirect(url_for("history.index", page=request.form.get("page", 1, type=int)), 303)
