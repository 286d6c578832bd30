"""``flask --app wsgi purge --older-than 24h`` and ``python -m webapp.purge``: delete old jobs.

Purging needs only the job store, not the models, so ``python -m webapp.purge`` starts in a blink and
can run from cron while the server is up (deletion renames a job away first, so a page being served
never sees half a job).
"""
from __future__ import annotations

from datetime import timedelta

import click
from flask import current_app
from flask.cli import with_appcontext

from webapp import config
from webapp.jobstore import JobStore


def parse_age(text: str) -> timedelta:
    """'90m', '24h', '7d' -> timedelta; raises click.BadParameter with the accepted forms."""
    try:
        return config.parse_age(text)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


def purge(store: JobStore, older_than: str, dry_run: bool) -> list[str]:
    ids = store.purge(parse_age(older_than), dry_run=dry_run)
    click.echo(f"{'would delete' if dry_run else 'deleted'} {len(ids)} job(s) older than {older_than}")
    return ids


def age_options(command):
    """The options both purge entry points take (flask CLI and ``python -m webapp.purge``)."""
    command = click.option("--dry-run", is_flag=True, help="List, do not delete.")(command)
    return click.option("--older-than", default=None, help="Age, e.g. 30m, 24h, 7d; default: the retention "
                                                              "setting, BACKDROP_RETENTION (24h).")(command)


@click.command("purge")
@age_options
@with_appcontext
def purge_command(older_than: str | None, dry_run: bool) -> None:
    """Delete jobs (uploads and results) older than an age (default: the retention setting)."""
    purge(current_app.extensions["backdrop"].store, older_than or current_app.config["RETENTION"], dry_run)
