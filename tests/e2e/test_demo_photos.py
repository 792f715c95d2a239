"""``DATA=photos make demo``: a folder of real photographs comes up as a searchable service.

A handful of photos (fewer than one training batch) gets the pretrained photo encoder without
adaptation, so this checks the whole path (folder -> checkpoint -> ONNX -> index -> service) in
about a minute. Skipped where ``../shared/data`` is absent.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import httpx
import pytest

from harness.demo_process import running_demo

PHOTOS = Path(__file__).resolve().parents[3] / "shared" / "data" / "flowers12" / "test"


@pytest.mark.slow
def test_demo_serves_a_photo_folder(tmp_path: Path) -> None:
    sources = sorted(PHOTOS.rglob("*.jpg"))[::40][:6]
    if not sources:
        pytest.skip(f"no photographs under {PHOTOS}")
    data = tmp_path / "my photos"
    for source in sources:
        (data / source.parent.name).mkdir(parents=True, exist_ok=True)
        shutil.copy(source, data / source.parent.name / source.name)
    with running_demo(tmp_path / "work", {"DATA": str(data)}) as api:
        files = {"image": ("q.jpg", sources[0].read_bytes(), "image/jpeg")}
        answer = httpx.post(f"http://127.0.0.1:{api}/search", files=files, params={"k": 3})
        assert answer.status_code == 200
        top = answer.json()["results"][0]
        assert top["label"] == sources[0].parent.name and top["duplicate"] is True
