"""Fuzzing through the API with hypothesis: real JPEG, PNG, WebP, TIFF and HEIC files mutated (bytes
flipped, cut, repeated, inserted), and multipart bodies put together wrongly. Whatever arrives, the
answer is never a 5xx, and a refusal stores nothing.

The HEIC seeds: a real HEIC (pillow-heif reads it) and an AVIF file (the same ISO-BMFF container)
branded ``heic``, which pillow-heif's libheif cannot decode here (no AV1 in it): the app must refuse
that one as unreadable, mutated or not. Example counts stay small so the suite stays fast;
``derandomize`` makes every run try the same cases.
"""
from __future__ import annotations

import io

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from webapp import create_app

from .conftest import TEST_CONFIG, encode, job_count, portrait

API = "/api/v1/remove-background"
FUZZ = settings(max_examples=30, deadline=None, database=None, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])


def heic_seed() -> bytes:
    avif = encode(portrait(64, 48), "AVIF")
    return avif.replace(b"ftypavif", b"ftypheic", 1).replace(b"avif", b"heic")


SEEDS = {"jpeg": encode(portrait(64, 48)), "png": encode(portrait(64, 48), "PNG"),
         "webp": encode(portrait(64, 48), "WEBP"), "tiff": encode(portrait(64, 48), "TIFF"), "heic": heic_seed(),
         "real-heic": encode(portrait(64, 48), "HEIF")}


@pytest.fixture(scope="module")
def fuzzed(tmp_path_factory):
    app = create_app({**TEST_CONFIG, "DATA_DIR": tmp_path_factory.mktemp("fuzz") / "data"})
    return app, app.test_client()


@st.composite
def mutated(draw) -> tuple[str, bytes]:
    """A seed file with up to four mutations: flip a byte, cut the end, repeat a slice, insert junk."""
    kind = draw(st.sampled_from(sorted(SEEDS)))
    data = bytearray(SEEDS[kind])
    for _ in range(draw(st.integers(1, 4))):
        where = draw(st.integers(0, len(data) - 1))
        action = draw(st.sampled_from(["flip", "cut", "repeat", "insert"]))
        if action == "flip":
            data[where] ^= draw(st.integers(1, 255))
        elif action == "cut":
            del data[max(1, where):]
        elif action == "repeat":
            data[where:where] = data[where:where + draw(st.integers(1, 64))] * draw(st.integers(1, 8))
        else:
            data[where:where] = draw(st.binary(min_size=1, max_size=32))
    return kind, bytes(data)


@FUZZ
@given(case=mutated(), declared=st.sampled_from(["image/jpeg", "image/png", "image/webp", "image/tiff",
                                                 "image/heic", "application/octet-stream"]))
def test_mutated_images_never_get_a_5xx(fuzzed, case, declared):
    app, client = fuzzed
    kind, data = case
    before = job_count(app)
    response = client.post(API, data={"image": (io.BytesIO(data), f"photo.{kind}", declared)},
                           content_type="multipart/form-data")
    assert response.status_code < 500, (kind, response.status_code, response.data[:300])
    if response.status_code >= 400:
        assert response.get_json()["error"]["message"] and job_count(app) == before


def test_the_heic_seed_is_refused_with_a_message(fuzzed):
    app, client = fuzzed
    response = client.post(API, data={"image": (io.BytesIO(SEEDS["heic"]), "me.heic", "image/heic")},
                           content_type="multipart/form-data")
    assert response.status_code == 422 and "image" in response.get_json()["error"]["message"]


PART = st.sampled_from([
    b'Content-Disposition: form-data; name="image"; filename="p.jpg"\r\nContent-Type: image/jpeg\r\n\r\n',
    b'Content-Disposition: form-data; name="image"\r\n\r\n', b'Content-Disposition: form-data; name="model"\r\n\r\n',
    b'Content-Disposition: attachment; name="image"; filename*=UTF-8\'\'%00.jpg\r\n\r\n',
    b'Content-Type: image/png\r\n\r\n', b"\r\n\r\n", b"", b"Content-Disposition: form-data\r\n",
])


@st.composite
def multipart_bodies(draw) -> tuple[str, bytes]:
    """A Content-Type header and a body whose boundaries, part headers and payloads are each right or
    wrong: missing or extra boundaries, no closing one, bare CRs, headers without a blank line."""
    boundary = draw(st.sampled_from([b"b", b"----x", b"a" * 70, b"", b"\"quoted\"", b"x\x00y"]))
    header = "multipart/form-data" + draw(st.sampled_from([f"; boundary={boundary.decode('latin-1')}", "",
                                                             "; boundary=", "; charset=utf-8"]))
    body = b""
    for _ in range(draw(st.integers(0, 4))):
        body += draw(st.sampled_from([b"--" + boundary + b"\r\n", b"--" + boundary, b"\r\n--" + boundary + b"\r\n",
                                      b"--wrong\r\n", b""]))
        body += draw(PART)
        body += draw(st.sampled_from([SEEDS["jpeg"][:draw(st.integers(0, len(SEEDS["jpeg"])))], b"sinet",
                                      draw(st.binary(max_size=64)), b"\r"]))
    body += draw(st.sampled_from([b"\r\n--" + boundary + b"--\r\n", b"--" + boundary + b"--", b"", b"\r\n"]))
    return header, body


@FUZZ
@given(request=multipart_bodies())
def test_broken_multipart_bodies_never_get_a_5xx(fuzzed, request):
    app, client = fuzzed
    header, body = request
    response = client.post(API, data=body, headers={"Content-Type": header})
    assert response.status_code < 500, (header, body[:200], response.status_code, response.data[:300])
