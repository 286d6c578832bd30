"""The ``backdrop`` command: each subcommand reaches its tool, run as a real process."""
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ml.registry import available_models
from webapp import command

ROOT = Path(__file__).resolve().parents[2]


def backdrop(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """``backdrop ARGS`` as the console script runs it: ``webapp.command:main`` in a fresh interpreter."""
    code = "import sys; from webapp.command import main; sys.exit(main())"
    return subprocess.run([sys.executable, "-c", code, *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=180, env={**os.environ, **(env or {})})


def test_the_console_script_is_the_dispatcher():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert project["project"]["scripts"] == {"backdrop": "webapp.command:main"}
    assert list(command.COMMANDS) == ["serve", "cutout", "idphoto", "predict", "purge"]


def test_each_subcommand_resolves_to_its_tools_main():
    from ml import cutout, predict
    from ml.idphoto import __main__ as idphoto
    from webapp import purge
    expected = {"serve": command.serve, "cutout": cutout.main, "idphoto": idphoto.main, "predict": predict.main,
                "purge": purge.main}
    assert {name: command.resolve(name) for name in command.COMMANDS} == expected


def test_no_command_or_an_unknown_one_is_exit_2_with_the_list():
    for args, message in (((), "usage: backdrop"), (("paint",), "unknown command 'paint'")):
        result = backdrop(*args)
        assert result.returncode == 2 and message in result.stderr
        assert all(name in result.stderr for name in command.COMMANDS)
    assert backdrop("--help").returncode == 0


@pytest.mark.parametrize("name, prog", [("cutout", "python -m ml.cutout"), ("predict", "python -m ml.predict"),
                                        ("idphoto", "python -m ml.idphoto"), ("purge", "backdrop purge"),
                                        ("serve", "gunicorn")])
def test_help_comes_from_the_chosen_tool(name, prog):
    result = backdrop(name, "--help")
    assert result.returncode == 0, result.stderr
    assert prog in result.stdout


def test_purge_runs_without_loading_the_models(tmp_path):
    result = backdrop("purge", "--dry-run", env={"BACKDROP_DATA_DIR": str(tmp_path), "BACKDROP_WEIGHTS_DIR": "/nowhere"})
    assert result.returncode == 0, result.stderr
    assert "would delete 0 job(s) older than 24h" in result.stdout


@pytest.mark.skipif(not available_models(), reason="no weights/*.tflite committed yet")
def test_cutout_writes_results_and_keeps_its_exit_status(tmp_path):
    Image.fromarray(np.full((60, 40, 3), 120, np.uint8)).save(tmp_path / "grey.png")
    result = backdrop("cutout", str(tmp_path / "grey.png"), "--output", str(tmp_path / "out"), "--background", "#ff0000",
                      "--format", "jpg")
    assert result.returncode == 0, result.stderr
    assert Image.open(tmp_path / "out" / "grey.jpg").size == (40, 60)
    assert backdrop("cutout", str(tmp_path / "missing.png"), "--output", str(tmp_path / "out")).returncode == 2
