"""The HTML report of a real profile, opened in a real headless browser.

Runs when Chromium and its driver are installed (Debian's ``chromium`` and
``chromium-driver``; ``.ci/run`` installs them) and selenium is importable;
skipped with the reason otherwise.
"""

import os
import shutil

import pytest

import sktune
from sktune.cli import example_workload

#: The window the recommendation must be visible in without scrolling.
WIDTH, HEIGHT = 1280, 800


def _find(name):
    path = shutil.which(name) or f"/usr/bin/{name}"
    return path if os.path.exists(path) else None


CHROMIUM, CHROMEDRIVER = _find("chromium"), _find("chromedriver")

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(CHROMIUM is None or CHROMEDRIVER is None,
                       reason="Chromium and chromedriver are not installed: "
                              "apt-get install chromium chromium-driver (.ci/run does)"),
]


@pytest.fixture
def driver(tmp_path_factory):
    webdriver = pytest.importorskip(
        "selenium.webdriver", reason="selenium is not installed: pip install -e '.[test]'")
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    # A profile folder of the test's own (not one left in the temporary
    # folder by an earlier run), and no background connections: this
    # machine's network is closed.
    profile_dir = tmp_path_factory.mktemp("chromium-profile")
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu",
                "--disable-dev-shm-usage", f"--window-size={WIDTH},{HEIGHT}",
                f"--user-data-dir={profile_dir}", "--no-first-run",
                "--disable-background-networking", "--disable-component-update",
                "--disable-sync"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER),
                              options=options)
    try:
        yield driver
    finally:
        driver.quit()


def test_html_report_in_browser_shows_recommendation_above_the_fold(driver, tmp_path):
    # Check that the HTML report of a real profile opens in headless Chromium
    # with no console errors and the recommendation within the first 800 px
    # of a 1280x800 window, and save a screenshot.
    from selenium.webdriver.common.by import By

    estimator, X, y = example_workload("random-forest", n_samples=600)
    result = sktune.profile(estimator, X, y, budget="quick", isolation="none")
    path = result.report(tmp_path / "report.html")

    driver.set_window_size(WIDTH, HEIGHT)
    driver.get(path.resolve().as_uri())
    severe = [entry for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]
    assert severe == []

    element = driver.find_element(By.ID, "recommendation")
    assert element.is_displayed()
    rect = element.rect
    viewport = driver.execute_script("return window.innerHeight")
    assert rect["y"] >= 0 and rect["y"] + rect["height"] <= min(HEIGHT, viewport), rect
    assert result.best.describe() in element.text
    # Every plot decoded: an image that failed to load has no natural width.
    widths = driver.execute_script(
        "return Array.from(document.images, i => i.naturalWidth)")
    assert widths and all(w > 0 for w in widths)

    screenshot = tmp_path / "report.png"
    assert driver.save_screenshot(str(screenshot))
    assert screenshot.stat().st_size > 0
