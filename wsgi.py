"""Entry point for gunicorn (``gunicorn wsgi:app``) and ``flask --app wsgi``: settings come from
``BACKDROP_*`` environment variables (see webapp/config.py and docs/api.md)."""
from webapp import create_app

app = create_app()
