"""Helpers every blueprint's views share: the app's job runner and what templates need to show a job."""
from __future__ import annotations

from typing import Any

from flask import Flask, current_app, url_for

from ml.colour import SWATCHES
from ml.compose import IMAGE, ImageBackground, parse_background
from ml.imageio import FORMAT_NAMES

from webapp.model_pool import LABELS
from webapp.runner import JobRunner

# What the file pickers offer: "image/*" alone hides .heic files in some desktop pickers.
UPLOAD_ACCEPT = "image/*,.heic,.heif,.avif"

def runner() -> JobRunner:
    return current_app.extensions["backdrop"]


def file_url(job_id: str, name: str, download: bool = False) -> str:
    return url_for("pages.job_file", job_id=job_id, name=name, **({"download": 1} if download else {}))


def background_label(spec: str) -> str:
    """How pages name a render's recorded background: the parsed value's label (an image background
    is named without loading its picture)."""
    return ImageBackground.label if spec == IMAGE else parse_background(spec).label


def job_thumbnail(job: dict[str, Any]) -> str:
    """The file the history shows for a job: its latest result's thumbnail, else a model's cutout
    thumbnail (compare jobs), else the photo's (ID-photo jobs, and jobs made before result thumbnails)."""
    renders = [render["thumb"] for render in job.get("renders", []) if "thumb" in render]
    cutouts = [mask["cutout_thumb"] for mask in job.get("masks", {}).values() if "cutout_thumb" in mask]
    return (renders[-1:] or cutouts[:1] or ["thumb.jpg"])[0]


def job_name(job: dict[str, Any]) -> str:
    """What people call a job: the name of the photo they uploaded."""
    return job["original"].get("filename") or f"Job {job['id'][:8]}"


def form_context() -> dict[str, Any]:
    """What the upload and compare forms need: the models with their cards, limits and presets."""
    config = current_app.config
    return {"models": runner().models.describe(), "default_model": config["DEFAULT_MODEL"],
            "presets": SWATCHES, "max_mb": config["MAX_UPLOAD_MB"], "max_bytes": config["MAX_CONTENT_LENGTH"]}


def register_template_helpers(app: Flask) -> None:
    app.jinja_env.globals.update(label=model_label, background_label=background_label, file_url=file_url,
                                 upload_accept=UPLOAD_ACCEPT, format_names=FORMAT_NAMES,
                                 job_thumbnail=job_thumbnail, job_name=job_name)
    app.jinja_env.filters["model_label"] = model_label


def model_label(name: str) -> str:
    return LABELS.get(name, name)
