"""``DATA=photos make demo``: a folder of real photographs comes up as a searchable service.

A handful of photos (fewer than one training batch) gets the pretrained photo encoder without
adaptation, so this checks the whole path (folder -> checkpoint -> ONNX -> index -> service) in
about a minute. Skipped where ``../shared/data`` is absent.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
import urllib.request
from pathlib import Path

import httpx
import pytest

from harness.live_server import free_port

REPO = Path(__file__).resolve().parents[2]
PHOTOS = REPO.parent / "shared" / "data" / "flowers12" / "test"


@pytest.mark.slow
def test_demo_serves_a_photo_folder(tmp_path: Path) -> None:
    sources = sorted(PHOTOS.rglob("*.jpg"))[::40][:6]
    if not sources:
        pytest.skip(f"no photographs under {PHOTOS}")
    data = tmp_path / "my photos"
    for source in sources:
        (data / source.parent.name).mkdir(parents=True, exist_ok=True)
        shutil.copy(source, data / source.parent.name / source.name)
    api = free_port()
    env = {
        **os.environ,
        "DATA": str(data),
        "WORK": str(tmp_path / "work"),
        "API_PORT": str(api),
        "UI_PORT": str(free_port()),
    }
    env.pop("MODEL", None)
    demo = subprocess.Popen(["bash", "scripts/demo.sh"], cwd=REPO, env=env, start_new_session=True)
    try:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            assert demo.poll() is None, f"demo exited with {demo.returncode}"
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{api}/readyz", timeout=1)
                break
            except OSError:
                time.sleep(1)
        else:
            pytest.fail("the demo did not become ready")
        files = {"image": ("q.jpg", sources[0].read_bytes(), "image/jpeg")}
        answer = httpx.post(f"http://127.0.0.1:{api}/search", files=files, params={"k": 3})
        assert answer.status_code == 200
        top = answer.json()["results"][0]
        assert top["label"] == sources[0].parent.name and top["duplicate"] is True
    finally:
        os.killpg(demo.pid, signal.SIGTERM)
        demo.wait(timeout=30)
