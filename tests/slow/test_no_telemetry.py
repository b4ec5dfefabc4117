"""No onnxruntime telemetry from any keliu command that loads a model (issue 10, REQUIREMENTS I7).

Official onnxruntime wheels on Linux write a device id and a queue of telemetry events (Python path,
OS, CPU, model names) to ``$XDG_CACHE_HOME`` or ``$HOME/.cache/Microsoft/DeveloperTools/.onnxruntime/``
as soon as the library is imported, and try to upload them. keliu imports it only through
``keliu.vision.onnx_runtime``, which sets ``ORT_DISABLE_TELEMETRY=1`` first.

Each command runs as a real subprocess with ``HOME`` set to a fresh empty directory,
``XDG_CACHE_HOME`` unset, and every variable onnxruntime treats as "running in CI" (``CI``,
``GITHUB_ACTIONS``, …, which ``.ci/run`` sets) removed, so that the library would write if keliu let it.

Observed while writing this test (onnxruntime 1.32.0): with keliu calling only
``onnxruntime.disable_telemetry_events()`` before its first session (no environment variable), all
seven model-loading commands below (count, track, demo live, embed, process, staff enrol, exclusion
add) left ``.cache/Microsoft/DeveloperTools/.onnxruntime/deviceid`` and ``onnxruntime.db`` in the
fresh HOME and this test failed; ``models list`` (no session) wrote nothing. The files appear on
import, before any session exists. The control case proves on every run that the library still
writes when nothing stops it, so the test cannot pass vacuously.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

# onnxruntime 1.32 skips telemetry when any of these is set (strings in libonnxruntime.so)
TELEMETRY_SUPPRESSORS = (
    "ORT_DISABLE_TELEMETRY",
    "ORT_RUNNING_UNIT_TESTS",
    "CI",
    "TF_BUILD",
    "GITHUB_ACTIONS",
    "GITLAB_CI",
    "CIRCLECI",
    "TRAVIS",
    "JENKINS_URL",
    "CODEBUILD_BUILD_ID",
    "BUILDKITE",
    "TEAMCITY_VERSION",
    "APPVEYOR",
    "BITBUCKET_BUILD_NUMBER",
)
KEY = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="  # base64 of bytes 0..31

SITE_YAML = """
site: {{id: campus, name: 校园 Campus}}
cameras:
  - id: door
    source: {video}
    recorded_at: 2026-03-07T10:00:00+08:00
    lines:
      - {{id: door, a: [0.50, 0.10], b: [0.50, 0.95], inside: [0.80, 0.50]}}
"""


def _files_under(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory, shared_data: Path, embedder_model: Path) -> dict:
    root = tmp_path_factory.mktemp("telemetry")
    keliu_home, work, crops = root / "keliu-home", root / "work", root / "crops"
    for d in (keliu_home, work, crops):
        d.mkdir()
    (keliu_home / "models").symlink_to(embedder_model.parents[1], target_is_directory=True)
    video = shared_data / "video" / "TUD-Campus.mp4"  # 71 frames, 640×480
    for name in sorted(os.listdir(shared_data / "reid" / "images"))[:3]:
        shutil.copy(shared_data / "reid" / "images" / name, crops / name)
    (work / "site.yaml").write_text(SITE_YAML.format(video=video), encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if k not in TELEMETRY_SUPPRESSORS and k != "XDG_CACHE_HOME"}
    env.update({"KELIU_HOME": str(keliu_home), "KELIU_SIGNATURE_KEY": KEY})
    return {"root": root, "work": work, "crops": crops, "video": video, "env": env}


def _run_with_fresh_home(setup: dict, name: str, argv: list[str]) -> tuple[subprocess.CompletedProcess, Path]:
    home = setup["root"] / f"home-{name}"
    home.mkdir()
    run = subprocess.run(
        argv,
        cwd=setup["work"],
        env={**setup["env"], "HOME": str(home)},
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    return run, home


def test_onnxruntime_writes_telemetry_when_nothing_stops_it(setup: dict) -> None:
    """Control: a bare ``import onnxruntime`` in this environment writes, else the test proves nothing."""
    run, home = _run_with_fresh_home(setup, "control", [sys.executable, "-c", "import onnxruntime"])
    assert run.returncode == 0, run.stderr
    assert any(f.startswith(".cache/Microsoft/") for f in _files_under(home)), (
        "onnxruntime no longer writes telemetry files when imported bare; "
        f"this test cannot tell the fix from its absence: {_files_under(home)}"
    )


COMMANDS: dict[str, list[str]] = {
    "models list": ["models", "list"],
    "count": ["count", "{video}", "--line", "door:0.5,0.1,0.5,0.95,0.8,0.5"],
    "track": ["track", "{video}", "--mot", "{work}/tracks.txt"],
    "demo live": ["demo", "live", "{video}"],
    "embed": ["embed", "{crops}"],
    "process": ["process", "--config", "{work}/site.yaml"],
    "staff enrol": ["staff", "enrol", "--site", "campus", "--name", "Sales uniform", "--images", "{crops}"],
    "exclusion add": ["exclusion", "add", "--id", "courier:sf", "--name", "顺丰 SF", "--images", "{crops}"],
}


def test_no_model_loading_command_writes_telemetry(setup: dict) -> None:
    leaks: dict[str, list[str]] = {}
    for name, args in COMMANDS.items():  # in order: staff enrol needs the site that process creates
        argv = [sys.executable, "-m", "keliu.cli", *(a.format(**setup) for a in args)]
        run, home = _run_with_fresh_home(setup, name.replace(" ", "-"), argv)
        assert run.returncode == 0, f"{name}: {run.stderr[-2000:]}"
        if files := _files_under(home):
            leaks[name] = files
    assert not leaks, f"files written under HOME: {leaks}"
