"""The static leaderboard page in a real browser: headless Chromium driven by selenium + chromedriver.

Needs Debian's ``chromium`` and ``chromium-driver`` (``apt-get install -y chromium chromium-driver``)
and the ``selenium`` package; skipped with the reason when one is missing.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from test_leaderboard_support import KNOWN, make_control, make_result, ship, write_entry

from degzoo.leaderboard import build_board
from degzoo.leaderboard.render import HTML_NAME

pytestmark = pytest.mark.browser

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")


@pytest.fixture(scope="module")
def driver(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    if CHROMIUM is None or CHROMEDRIVER is None:
        pytest.skip(
            "Debian's chromium and chromium-driver are not installed "
            "(apt-get install -y chromium chromium-driver)"
        )
    webdriver = pytest.importorskip(
        "selenium.webdriver", reason="selenium is not installed (pip install selenium)"
    )
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    profile = tmp_path_factory.mktemp("chromium-profile")
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        f"--user-data-dir={profile}",
    ):
        options.add_argument(flag)
    browser = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    browser.set_page_load_timeout(30)
    try:
        yield browser
    finally:
        browser.quit()


@pytest.fixture(scope="module")
def page(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("board")
    write_entry(root, make_result("Strong metric", value=0.9))
    write_entry(root, make_result("<script>alert(1)</script>", value=0.3, width=0.01))
    write_entry(root, make_result("Close second", value=0.89, width=0.05))
    ref = make_result("Weights ref", level="weights", value=0.5, package="degzoo")
    write_entry(root, ref)
    write_entry(root, make_control("L1 control"))
    with pytest.MonkeyPatch.context() as mp:
        ship(mp, ref)
        build_board(root, known=KNOWN, parquet=False, n_boot=300)
    return root / HTML_NAME


def _entries(browser, section: str) -> list[str]:
    from selenium.webdriver.common.by import By

    rows = browser.find_elements(By.CSS_SELECTOR, f"section[id='{section}'] tbody tr")
    return [r.get_attribute("data-entry") for r in rows]


def _visible_rows(browser) -> int:
    return browser.execute_script(
        "return Array.prototype.filter.call(document.querySelectorAll('tbody tr'),"
        " function (tr) { return tr.offsetParent !== null; }).length;"
    )


def test_rows_sorting_and_filters(driver, page: Path) -> None:
    from selenium.common.exceptions import NoAlertPresentException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    browser = driver
    browser.get(page.as_uri())
    dyn = "metric-dynamics--test-zoo-v1"
    assert _entries(browser, dyn) == ["strong-metric", "close-second", "script-alert-1-script"]
    assert _visible_rows(browser) == 5
    assert browser.find_element(By.ID, "shown-count").text == "5"

    # the submitted name is text, not markup, and nothing ran
    cell = browser.find_element(By.CSS_SELECTOR, "tr[data-entry='script-alert-1-script'] td.name")
    assert cell.text.startswith("<script>alert(1)</script>")
    with pytest.raises(NoAlertPresentException):
        browser.switch_to.alert.text  # noqa: B018

    # sort by score: ascending, then descending
    table = browser.find_element(By.CSS_SELECTOR, f"section[id='{dyn}'] table")
    score_button = table.find_element(By.XPATH, ".//thead//th[normalize-space()='Score']/button")
    score_button.click()
    assert _entries(browser, dyn) == ["script-alert-1-script", "close-second", "strong-metric"]
    header = table.find_element(By.XPATH, ".//thead//th[normalize-space()='Score']")
    assert header.get_attribute("aria-sort") == "ascending"
    score_button.click()
    assert _entries(browser, dyn) == ["strong-metric", "close-second", "script-alert-1-script"]
    table.find_element(By.XPATH, ".//thead//th[normalize-space()='Entry']/button").click()
    assert _entries(browser, dyn) == ["script-alert-1-script", "close-second", "strong-metric"]

    # filters: by track, then by level
    Select(browser.find_element(By.ID, "filter-track")).select_by_value("metric-weights")
    assert _visible_rows(browser) == 1
    assert browser.find_element(By.ID, "shown-count").text == "1"
    assert not browser.find_element(By.ID, dyn).is_displayed()
    Select(browser.find_element(By.ID, "filter-track")).select_by_value("")
    Select(browser.find_element(By.ID, "filter-level")).select_by_value("dynamics")
    assert _visible_rows(browser) == 4  # the three dynamics metrics and the control (all levels)
    Select(browser.find_element(By.ID, "filter-level")).select_by_value("representation")
    assert browser.find_element(By.ID, "shown-count").text == "1"

    # badges and links
    ref = browser.find_element(By.CSS_SELECTOR, "tr[data-entry='weights-ref'] .badge.reference")
    assert ref.get_attribute("textContent") == "★ reference"
    hrefs = {a.get_attribute("href") for a in browser.find_elements(By.CSS_SELECTOR, "td a")}
    assert "https://example.org/code" in hrefs
    assert all(h.startswith(("https://", "file://")) for h in hrefs)


@pytest.mark.parametrize("width", [1024, 1280])
def test_the_page_fits_the_window_and_its_columns_line_up(driver, page: Path, width: int) -> None:
    from selenium.webdriver.common.by import By

    browser = driver
    browser.set_window_size(width, 900)
    browser.get(page.as_uri())
    inner = browser.execute_script("return document.documentElement.clientWidth")
    assert browser.execute_script("return document.documentElement.scrollWidth") <= inner
    # no cell is cut off or spills into its neighbour
    spilled = browser.execute_script(
        "return Array.prototype.filter.call(document.querySelectorAll('table.board th, table.board td'),"
        " function (c) { return c.scrollWidth > c.clientWidth + 1; }).map(function (c) {"
        " return c.textContent; });"
    )
    assert spilled == []
    # every column is inside the window, and the metric sections' columns line up
    edges = browser.execute_script(
        "return Array.prototype.map.call(document.querySelectorAll('section[data-track^=metric] thead tr'),"
        " function (tr) { return Array.prototype.map.call(tr.cells, function (c) {"
        " var r = c.getBoundingClientRect(); return [Math.round(r.left), Math.round(r.right)]; }); });"
    )
    assert len(edges) == 2 and edges[0] == edges[1]
    assert edges[0][-1][1] <= inner
    # the legend's star is in the reference's row; cost says its unit and that lower is better
    ref = browser.find_element(By.CSS_SELECTOR, "tr[data-entry='weights-ref'] td.name")
    assert "★" in ref.text
    cost = browser.find_element(By.CSS_SELECTOR, "section[data-track^=metric] th[title^='cost']")
    assert "ms/pair" in cost.text and "lower is better" in cost.get_attribute("title")
