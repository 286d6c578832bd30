"""jQuery served from the XStatic-jQuery package, so pages work with no internet and no CDN."""
from __future__ import annotations

import xstatic.pkg.jquery
from flask import Blueprint

bp = Blueprint("jquery", __name__, static_folder=xstatic.pkg.jquery.BASE_DIR,
               static_url_path="/static/vendor/jquery")
