"""Shared by every test folder: a Flask test client that submits the site's forms as a browser does.

The site refuses state-changing form posts without the CSRF token it put in the page (see
webapp/security.py). Tests that post forms use this client: before each POST/PUT/PATCH/DELETE outside
``/api/`` it opens the upload page, reads the token from the form's hidden field and sends it along,
so every such test goes through the real token check. A request that names its own ``csrf_token``
field or ``X-CSRF-Token`` header is sent untouched, which is how tests send a missing or forged one.
"""
from __future__ import annotations

import re

import pytest
from flask.testing import FlaskClient

TOKEN_RE = re.compile(r'name="csrf_token" value="([^"]+)"')
UNSAFE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}


class BrowserFormClient(FlaskClient):
    """FlaskClient that adds the page's CSRF token to form posts that do not carry one."""

    token_page = "/"

    def open(self, *args, **kwargs):
        method = str(kwargs.get("method") or "GET").upper()
        path = args[0] if args and isinstance(args[0], str) else ""
        data = kwargs.get("data")
        headers = kwargs.get("headers") or {}
        if (method in UNSAFE_METHODS and not path.startswith("/api/") and (data is None or isinstance(data, dict))
                and "csrf_token" not in (data or {}) and "X-CSRF-Token" not in headers):
            data = data.copy() if data is not None else {}  # dict or MultiDict, as the caller built it
            data["csrf_token"] = self.page_token()
            kwargs["data"] = data
        return super().open(*args, **kwargs)

    def page_token(self) -> str:
        html = self.get(self.token_page).get_data(as_text=True)
        found = TOKEN_RE.search(html)
        if not found:
            raise AssertionError(f"{self.token_page} has no csrf_token field in its form")
        return found.group(1)


@pytest.fixture(scope="session")
def form_client_class() -> type[FlaskClient]:
    return BrowserFormClient
