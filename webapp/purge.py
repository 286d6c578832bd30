"""``python -m webapp.purge --older-than 24h``: the purge command without loading the models."""
from __future__ import annotations

import click

from webapp.cli import age_options, purge
from webapp.config import settings_from_env
from webapp.jobstore import JobStore


@click.command()
@age_options
def main(older_than: str, dry_run: bool) -> None:
    """Delete jobs older than an age from BACKDROP_DATA_DIR (default ./data)."""
    store = JobStore(settings_from_env()["DATA_DIR"])
    store.prepare()
    purge(store, older_than, dry_run)


if __name__ == "__main__":
    main()
