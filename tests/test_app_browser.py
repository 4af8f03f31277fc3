"""The SolaraViz page in real headless Chromium: served by `solara run app.py`, fully offline.

Uses Debian's /usr/bin/chromium through pytest-playwright (never `playwright install`,
which downloads a browser); `scripts/setup_browser.sh` installs it and seeds Solara's
front-end assets. Without Chromium the test is skipped locally and FAILS under CI=true.
The screenshot goes to artifacts/app_browser.png.
"""

import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from conftest import IN_CI, ROOT

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
SERVER_DEADLINE = 60  # seconds for `solara run` to answer
LOAD_TIMEOUT = 45_000  # ms for the first page render (Solara front end + first PNGs)


def _require_browser() -> None:
    """Skip without Chromium or Playwright, except under CI, where that is a failure."""
    missing = []
    if not Path(CHROMIUM).exists():
        missing.append(f"{CHROMIUM} (run scripts/setup_browser.sh)")
    try:
        import playwright  # noqa: F401
    except ImportError:
        missing.append("the playwright package")
    if missing:
        message = "browser test needs " + " and ".join(missing)
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message, allow_module_level=True)


_require_browser()
from playwright.sync_api import expect  # noqa: E402


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    """pytest-playwright hook: launch Debian's Chromium instead of a downloaded one."""
    return {**browser_type_launch_args, "executable_path": CHROMIUM, "args": CHROMIUM_ARGS}


@pytest.fixture(scope="module")
def solara_url(tmp_path_factory):
    """Serve app.py on a free loopback port; stop the server by its PID afterwards."""
    port = _free_port()
    log = tmp_path_factory.mktemp("solara") / "server.log"
    solara_bin = shutil.which("solara", path=str(Path(sys.executable).parent)) or "solara"
    env = {**os.environ, "SOLARA_TELEMETRY_MIXPANEL_ENABLE": "False"}
    with open(log, "wb") as fh:
        proc = subprocess.Popen(
            # --production: no file watchers, which can fail to start on a machine whose
            # inotify watches other programs have used up (as `cloudmarket viz` does)
            [solara_bin, "run", "app.py", "--host", "127.0.0.1", "--port", str(port),
             "--no-open", "--no-check-version", "--production"],
            cwd=ROOT, env=env, stdout=fh, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + SERVER_DEADLINE
        while True:
            if proc.poll() is not None:
                pytest.fail(f"solara exited early ({proc.returncode}):\n{log.read_text()}")
            try:
                with urllib.request.urlopen(url, timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"solara did not answer within {SERVER_DEADLINE} s:\n{log.read_text()}")
            time.sleep(0.25)
        yield url
    finally:
        proc.terminate()  # our own server, by its PID
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    text = log.read_text(errors="replace")
    assert "Could not load URL" not in text, f"an asset had to come from the internet:\n{text}"
    assert "Traceback" not in text, text
    assert "samesite" not in text.lower(), f"Solara's cookie warning came back:\n{text}"


def _srcs(images) -> list[str]:
    return [images.nth(i).get_attribute("src") for i in range(images.count())]


def test_page_shows_steps_resets_and_reports_bad_values(page, solara_url, artifacts_dir):
    problems: list[str] = []
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    page.on("requestfailed", lambda r: problems.append(f"request failed: {r.url} {r.failure}"))
    page.on("response", lambda r: r.status >= 400 and problems.append(f"HTTP {r.status}: {r.url}"))
    page.set_viewport_size({"width": 1400, "height": 900})
    page.goto(solara_url)

    # the graph and every chart: six server-side PNGs, plus the shares table
    expect(page.get_by_text("Time: 0.0")).to_be_visible(timeout=LOAD_TIMEOUT)
    # the browser tab is named after the page, and there is no lone "PAGE 0" tab
    expect(page).to_have_title("Cloud market")
    lone_tab = page.locator(".v-tab")
    expect(lone_tab).to_have_count(1)  # SolaraViz still draws it ...
    expect(lone_tab).to_be_hidden()  # ... and the page hides it
    images = page.locator(".vue-grid-item img")
    expect(images).to_have_count(6, timeout=LOAD_TIMEOUT)
    for i in range(6):
        expect(images.nth(i)).to_have_attribute("src", re.compile(r"^(blob:|data:image/png)"), timeout=LOAD_TIMEOUT)
        box = images.nth(i).bounding_box()
        assert box and box["width"] > 300 and box["height"] > 200, (i, box)
    expect(page.get_by_role("columnheader", name="spend %")).to_be_visible()
    expect(page.get_by_text("scenario china-2020, 2,000 customers, seed 0")).to_be_visible()

    # Step three times: time advances and every chart is redrawn
    before = _srcs(images)
    step = page.get_by_role("button", name="Step")
    for n in (1, 2, 3):
        step.click()
        expect(page.get_by_text(f"Time: {n}.0")).to_be_visible(timeout=15_000)
    expect(page.get_by_text("2021Q2 (step 3)")).to_be_visible()
    for i, src in enumerate(before):
        expect(images.nth(i)).not_to_have_attribute("src", src, timeout=15_000)

    # a slider and a typed value, then Reset: the model is rebuilt with them
    slider = page.locator(".v-input", has_text="interoperability").get_by_role("slider")
    slider.focus()
    slider.press("ArrowRight")  # one step of 0.05: 0.0 -> 0.05
    customers = page.get_by_label("n_customers")
    customers.fill("300")
    customers.press("Enter")
    page.get_by_role("button", name="Reset").click()
    expect(page.get_by_text("Time: 0.0")).to_be_visible(timeout=15_000)
    expect(page.get_by_text("scenario china-2020, 300 customers, seed 0")).to_be_visible()
    expect(page.get_by_text("interoperability 0.05")).to_be_visible()

    # a bad value: a readable message, the model on the page is kept and still steps
    step.click()
    expect(page.get_by_text("Time: 1.0")).to_be_visible(timeout=15_000)
    customers.fill("lots")
    customers.press("Enter")
    page.get_by_role("button", name="Reset").click()
    error = page.locator(".v-alert")
    expect(error).to_contain_text("n_customers = 'lots': must be a number in [10, 2e+06]", timeout=15_000)
    assert "Traceback" not in error.inner_text()
    expect(page.get_by_text("Time: 1.0")).to_be_visible()
    step.click()
    expect(page.get_by_text("Time: 2.0")).to_be_visible(timeout=15_000)
    expect(page.get_by_text("300 customers")).to_be_visible()

    # fixed, the next Reset builds again and the message goes away
    customers.fill("250")
    customers.press("Enter")
    page.get_by_role("button", name="Reset").click()
    expect(page.get_by_text("scenario china-2020, 250 customers, seed 0")).to_be_visible(timeout=15_000)
    expect(error).to_have_count(0)
    for n in range(1, 6):  # a few quarters, so the screenshot shows some history
        step.click()
        expect(page.get_by_text(f"Time: {n}.0")).to_be_visible(timeout=15_000)

    # whole page (taller window, so every chart is in the picture), for a person to look at
    page.set_viewport_size({"width": 1400, "height": 1500})
    page.wait_for_timeout(1000)
    page.screenshot(path=str(artifacts_dir / "app_browser.png"), full_page=True)
    assert not problems, "\n".join(problems)
