"""End to end in a real headless Chromium: real API (uvicorn) + real Streamlit, started here.

Upload an image, see k results with overlays, open the side-by-side view; the screenshot is saved
to ``test-artifacts/``. Needs Debian's ``chromium`` and Playwright's Python package (CI installs
both); skipped where either is missing.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from indexer.build_index import build_index
from training import export_onnx

playwright_api = pytest.importorskip("playwright.sync_api")
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts"
K = 10

pytestmark = [
    pytest.mark.slow,
    pytest.mark.timeout(300),
    pytest.mark.skipif(CHROMIUM is None, reason="Debian chromium not installed"),
]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait(url: str, process: subprocess.Popen, seconds: float = 90) -> None:
    deadline = time.time() + seconds
    while time.time() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{process.args} exited with {process.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    raise TimeoutError(url)


@pytest.fixture(scope="module")
def servers(
    tiny_run: Path, tiny_data: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    work = tmp_path_factory.mktemp("e2e")
    model = work / "model.onnx"
    assert (
        export_onnx.main(["--checkpoint", str(tiny_run / "checkpoint.pt"), "--out", str(model)])
        == 0
    )
    build_index(model, tiny_data / "train", work / "index", workers=0)
    api_port, ui_port = _free_port(), _free_port()
    env = {
        **os.environ,
        "LODISC_MODEL_PATH": str(model),
        "LODISC_INDEX_DIR": str(work / "index"),
        "LODISC_API_KEY": "e2e-key",
        "LODISC_SERVICE_URL": f"http://127.0.0.1:{api_port}",
    }
    api = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "service.main:app", "--port", str(api_port)],
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    ui = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "streamlit",
            "run",
            "ui/app.py",
            "--server.port",
            str(ui_port),
            "--server.headless",
            "true",
            "--browser.gatherUsageStats",
            "false",
        ],
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait(f"http://127.0.0.1:{api_port}/readyz", api)
        _wait(f"http://127.0.0.1:{ui_port}/_stcore/health", ui)
        yield f"http://127.0.0.1:{ui_port}"
    finally:
        for process in (ui, api):
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()


def test_upload_search_overlays_and_side_by_side(servers: str, tiny_data: Path) -> None:
    query = sorted((tiny_data / "test").rglob("*.png"))[0]
    ARTIFACTS.mkdir(exist_ok=True)
    with playwright_api.sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        page = browser.new_page(viewport={"width": 1400, "height": 1800})
        page.goto(servers)
        page.get_by_text("Query image (drag and drop)").wait_for(timeout=60_000)
        page.locator("input[type=file]").set_input_files(str(query))
        expect = playwright_api.expect
        expect(page.get_by_role("button", name="Compare")).to_have_count(K, timeout=60_000)
        assert page.get_by_text("score ", exact=False).count() >= K
        # Thumbnails with overlays blended in: k result images besides the query.
        images = page.locator("[data-testid='stImage'] img")
        expect(images.nth(K - 1)).to_be_visible(timeout=60_000)
        page.get_by_role("button", name="Compare").first.click()
        page.get_by_text("Query vs", exact=False).wait_for(timeout=60_000)
        page.get_by_text("matched patches", exact=False).wait_for(timeout=60_000)
        page.screenshot(path=str(ARTIFACTS / "e2e-side-by-side.png"), full_page=True)
        browser.close()
    assert (ARTIFACTS / "e2e-side-by-side.png").stat().st_size > 10_000
