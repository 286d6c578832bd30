"""The reliability test suite as the last phase, so the figures page counts its tests per file."""
from __future__ import annotations

import os
import subprocess
import sys
import xml.etree.ElementTree as ElementTree
from pathlib import Path
from typing import Any

from bench.load import ROOT, log


def pytest_phase(workdir: Path) -> dict[str, Any]:
    """The reliability test suite, counted per file from its JUnit report."""
    log("pytest tests/reliability")
    report = workdir / "reliability-junit.xml"
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/reliability",
                           f"--junitxml={report}"], cwd=ROOT, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"},
                          capture_output=True, text=True, timeout=3600)
    per_file: dict[str, dict[str, int]] = {}
    for case in ElementTree.parse(report).getroot().iter("testcase"):
        name = case.get("classname", "").split(".")[-1] or "?"
        state = "failed" if case.find("failure") is not None or case.find("error") is not None else \
            "skipped" if case.find("skipped") is not None else "passed"
        per_file.setdefault(name, {"passed": 0, "failed": 0, "skipped": 0})[state] += 1
    return {"exit_status": done.returncode, "per_file": per_file, "summary": done.stdout.strip().splitlines()[-1:]}
