"""``python -m webapp.purge [--older-than 24h]``: the purge command without loading the models (for cron)."""
from __future__ import annotations

import click

from webapp.cli import age_options, purge
from webapp.config import settings_from_env
from webapp.jobstore import JobStore


@click.command()
@age_options
def main(older_than: str | None, dry_run: bool) -> None:
    """Delete jobs older than an age (default BACKDROP_RETENTION, 24h) from BACKDROP_DATA_DIR (./data)."""
    settings = settings_from_env()
    store = JobStore(settings["DATA_DIR"], settings["DATABASE_URL"])
    store.prepare()  # also clears temporaries that dead workers left
    purge(store, older_than or settings["RETENTION"], dry_run)


if __name__ == "__main__":
    main()
