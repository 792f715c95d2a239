"""End to end in a real headless Chromium: real API (uvicorn) + real Streamlit, started here.

Upload an image, see k results with match maps, the query's pivotal map and the legend, open the
side-by-side view; search by a region drawn with the box tool; reload and go Back through the URL
state; check a 390 px wide screen has no horizontal overflow. Screenshots go to
``test-artifacts/``. Needs Debian's ``chromium`` and Playwright's Python package (CI installs
both); skipped where either is missing.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from indexer.gallery_index import build_index
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


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with playwright_api.sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        yield browser
        browser.close()


def _open(browser: Any, url: str, width: int = 1400, height: int = 1800) -> Any:
    page = browser.new_page(viewport={"width": width, "height": height})
    page.goto(url)
    page.get_by_text("Query image (drag and drop)").wait_for(timeout=60_000)
    return page


def _settled(page: Any, hits: int = K) -> None:
    """Wait for ``hits`` result cards and the end of the script run that drew them."""
    expect = playwright_api.expect
    expect(page.get_by_role("button", name="Compare")).to_have_count(hits, timeout=60_000)
    expect(page.get_by_test_id("stStatusWidget")).to_have_count(0, timeout=60_000)


def _slider(page: Any, label: str, thumb: int = 0) -> Any:
    """A slider thumb (``thumb`` 1: a range slider's upper end) by the slider's label."""
    widget = page.locator("[data-testid='stSlider']").filter(has_text=label)
    return widget.get_by_role("slider").nth(thumb)


def _press(thumb: Any, key: str, times: int) -> None:
    thumb.focus()
    for _ in range(times):
        thumb.press(key)


def _search_item(page: Any, item_id: int) -> None:
    """Type a gallery item id in the search form and press Enter."""
    field = page.get_by_label("Gallery item id")
    field.fill(str(item_id))
    field.press("Enter")
    page.get_by_text(f"results for gallery item {item_id}").wait_for(timeout=60_000)


def test_upload_search_overlays_legend_and_side_by_side(
    servers: str, tiny_data: Path, browser: Any
) -> None:
    query = sorted((tiny_data / "test").rglob("*.png"))[0]
    ARTIFACTS.mkdir(exist_ok=True)
    page = _open(browser, servers)
    page.locator("input[type=file]").set_input_files(str(query))
    expect = playwright_api.expect
    expect(page.get_by_role("button", name="Compare")).to_have_count(K, timeout=60_000)
    assert page.get_by_text("score ", exact=False).count() >= K
    # Thumbnails with match maps: k result images besides the query, its map and the legend.
    images = page.locator("[data-testid='stImage'] img")
    expect(images.nth(K + 2)).to_be_visible(timeout=60_000)
    expect(page.get_by_text("Heatmap colours: dark purple = low, yellow = high")).to_be_visible()
    expect(page.get_by_text("where the model looks (pivotal map)")).to_be_visible()
    assert page.get_by_text(" match", exact=False).count() >= 1  # strong / weak / no match badges
    # Compare opens a dialog over the page: the page under it does not scroll.
    compare = page.get_by_role("button", name="Compare").nth(K - 1)
    compare.scroll_into_view_if_needed()
    scrolled = page.evaluate("window.scrollY")
    compare.click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_text("Query vs", exact=False).wait_for(timeout=60_000)
    dialog.get_by_text("matched patches", exact=False).wait_for(timeout=60_000)
    page.screenshot(path=str(ARTIFACTS / "e2e-side-by-side.png"), full_page=True)
    dialog.get_by_role("button", name="Close comparison").click()
    expect(page.get_by_role("dialog")).to_have_count(0, timeout=30_000)
    assert abs(page.evaluate("window.scrollY") - scrolled) < 40
    page.close()
    assert (ARTIFACTS / "e2e-side-by-side.png").stat().st_size > 10_000


def test_box_tool_searches_by_a_region(servers: str, tiny_data: Path, browser: Any) -> None:
    query = sorted((tiny_data / "test").rglob("*.png"))[0]
    page = _open(browser, servers)
    page.locator("input[type=file]").set_input_files(str(query))
    page.get_by_text(f"results for {query.name}").wait_for(timeout=60_000)
    _settled(page)
    page.get_by_text("Search a region of the query").click()
    _press(_slider(page, "Left to right"), "ArrowRight", 4)
    page.get_by_text("region 4,0,32,32 of 32×32 pixels").wait_for(timeout=30_000)
    _press(_slider(page, "Top to bottom", 1), "ArrowLeft", 6)
    page.get_by_text("region 4,0,32,26 of 32×32 pixels").wait_for(timeout=30_000)
    page.get_by_role("button", name="Search this region").click()
    page.get_by_text(f"results for {query.name}, region 4,0,32,26").wait_for(timeout=60_000)
    playwright_api.expect(page).to_have_url(re.compile(r"box=4(%2C|,)0(%2C|,)32(%2C|,)26"))
    playwright_api.expect(page.get_by_role("button", name="Compare")).to_have_count(K)
    page.close()


def test_url_keeps_query_k_and_page_through_reload_and_back(servers: str, browser: Any) -> None:
    page = _open(browser, servers)
    _search_item(page, 3)
    _settled(page)
    _press(_slider(page, "Results per page (k)"), "ArrowLeft", K - 5)
    page.get_by_role("button", name="Search", exact=True).click()
    playwright_api.expect(page.get_by_role("button", name="Compare")).to_have_count(5)
    page.get_by_role("button", name="Next").click()
    page.get_by_text("Page 2 · results 6-10").wait_for(timeout=60_000)
    playwright_api.expect(page).to_have_url(re.compile(r"item=3&k=5&results_page=2"))
    url = page.url
    # The link in a fresh tab shows the same search.
    shared = _open(browser, url)
    shared.get_by_text("results for gallery item 3").wait_for(timeout=60_000)
    shared.get_by_text("Page 2 · results 6-10").wait_for(timeout=60_000)
    k_slider = shared.locator("[data-testid='stSlider']").filter(has_text="Results per page (k)")
    assert k_slider.locator("[data-testid='stSliderThumbValue']").inner_text() == "5"
    shared.close()
    # Back returns to the first page of results.
    page.go_back()
    page.get_by_text("Page 1 · results 1-5").wait_for(timeout=60_000)
    assert "results_page" not in page.url
    page.close()


def test_narrow_screen_has_no_horizontal_overflow(servers: str, browser: Any) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page = _open(browser, servers, width=390, height=844)
    _search_item(page, 5)
    _settled(page)
    page.get_by_text("Search a region of the query").click()
    page.get_by_text("region 0,0,32,32 of 32×32 pixels").wait_for(timeout=30_000)
    overflow = page.evaluate(
        "document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    page.screenshot(path=str(ARTIFACTS / "e2e-390px.png"), full_page=True)
    assert overflow <= 0
    page.close()
