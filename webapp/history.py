"""The history page: the caller's jobs (everyone's on a shared install), newest first, with delete
(one job, or every job ticked)."""
from __future__ import annotations

from contextlib import suppress

from flask import Blueprint, current_app, redirect, render_template, request, url_for

from webapp import owners
from webapp.errors import FieldError
from webapp.jobstore import JobNotFound
from webapp.template_helpers import runner

bp = Blueprint("history", __name__)


@bp.get("/history")
def index():
    page = runner().store.page(request.args.get("page", 1, type=int), current_app.config["JOBS_PER_PAGE"],
                               owners.history_owner())
    return render_template("history.html", page=page)


@bp.post("/jobs/<job_id>/delete")
@bp.post("/history/delete")
def delete(job_id: str | None = None):
    """One job (its own button), or the jobs ticked on the page ("Delete selected").

    Every job must be the caller's or the key holder's (``owners.check_may_delete``); ticked jobs are
    all checked before any is deleted, so one that is not the caller's refuses the whole request. A
    ticked job already gone (deleted in another tab) is skipped, not an error.
    """
    store = runner().store
    if job_id is not None:
        owners.check_may_delete(store.owner(job_id))
        store.delete(job_id)
    else:
        ticked = list(dict.fromkeys(request.form.getlist("job")))
        if not ticked:
            raise FieldError("job", "job: no job was ticked; tick the jobs to delete first.", 400)
        present = {}
        for one in ticked:
            with suppress(JobNotFound):
                present[one] = store.owner(one)
        for owner in present.values():
            owners.check_may_delete(owner)
        for one in present:
            with suppress(JobNotFound):
                store.delete(one)
    return redirect(url_for("history.index", page=request.form.get("page", 1, type=int)), 303)
