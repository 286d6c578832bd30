"""gunicorn's settings, read by every ``gunicorn wsgi:app`` started in this folder (``make run``, the
benches, the tests that start real servers). Command-line flags still override them.

Slow clients: a gthread worker hands each connection to one of ``threads`` threads, and a client that
trickles its upload holds its thread until the body is in. With many threads per worker (they only
wait; the model work is capped separately by BACKDROP_WORKER_THREADS), a handful of slow or hostile
uploads leave plenty for everyone else. Facing the internet, put a reverse proxy that buffers whole
requests in front (docs/reliability.md, "Reverse proxy"): then no slow client reaches the app at all.
"""
import os

bind = os.environ.get("BACKDROP_BIND", "127.0.0.1:5000")
workers = int(os.environ.get("BACKDROP_WORKERS", "1"))
worker_class = "gthread"
# Connections served at once per worker: slow clients park here, not in the model slots.
threads = int(os.environ.get("BACKDROP_THREADS", "32"))
# A worker silent this long (a request stuck in C code) is killed and replaced.
timeout = 120
graceful_timeout = 30
keepalive = 5
# Header limits: a request line or header block this large is refused before the app sees it.
limit_request_line = 8190
limit_request_fields = 100
limit_request_field_size = 8190
# gunicorn's runtime control socket sits at one path per user, which several servers on one machine
# (the benches, the two-instance tests) would take from each other; nothing here uses gunicornc.
control_socket_disable = True
