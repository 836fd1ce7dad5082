"""The reference console (`/console`) in a real browser, against the real dev stack: sign
in, connect Heroku through the fake's OAuth redirects, link PG_DATABASE_URL, rotate the
credentials on the fake Heroku and watch the row follow, opt out. Every wait is an
explicit wait on the page's DOM; nothing is decided by sleeping."""

import json
import os
import urllib.request

from pathlib import Path

from selenium.common.exceptions import (
    StaleElementReferenceException,
    TimeoutException,
    WebDriverException,
)
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select, WebDriverWait

# Every run saves a screenshot under target/ (for a look after a failure); the README's
# copy in docs/ changes only when asked: `make console-screenshot`.
ROOT = Path(__file__).resolve().parents[2]
SCREENSHOT = Path(os.environ.get("CONSOLE_SCREENSHOT", ROOT / "target" / "console.png"))
ENV_VAR = "PG_DATABASE_URL"
ROW = f'tr[data-env-var="{ENV_VAR}"]'
WAIT_S = 30


def replaced(e):
    """Whether the element was replaced between finding and reading it. Chromium says so
    as a stale reference, or (when the node goes mid-call) as an inspector error."""
    return isinstance(e, StaleElementReferenceException) or (
        "does not belong to the document" in str(e)
    )


# Both read what is there now, or None: the page may be navigating (the OAuth round trip)
# or re-rendering between finding an element and reading it.
def text_of(driver, css):
    try:
        found = driver.find_elements(By.CSS_SELECTOR, css)
        return found[0].text if found else None
    except WebDriverException as e:
        if replaced(e):
            return None
        raise


def attr_of(driver, css, name):
    try:
        found = driver.find_elements(By.CSS_SELECTOR, css)
        return found[0].get_attribute(name) if found else None
    except WebDriverException as e:
        if replaced(e):
            return None
        raise


def wait_for(driver, what, condition, timeout=WAIT_S):
    """Waits until `condition(driver)` is truthy; on timeout fails saying what was awaited
    and what the page showed instead."""
    try:
        return WebDriverWait(driver, timeout, poll_frequency=0.1).until(lambda d: condition(d))
    except TimeoutException:
        row = attr_of(driver, ROW, "outerHTML")
        raise AssertionError(
            f"timed out after {timeout} s waiting for: {what}\n"
            f"  url: {driver.current_url}\n"
            f"  messages: {text_of(driver, '#messages')!r}\n"
            f"  connection: {attr_of(driver, '#connection-status', 'data-status')!r}\n"
            f"  row: {row}"
        ) from None


def field(driver, name, attr="data-value"):
    return attr_of(driver, f'{ROW} [data-field="{name}"]', attr)


def post_json(url):
    req = urllib.request.Request(url, data=b"{}", method="POST",
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as resp:
        return json.load(resp)


def test_connect_link_rotate_and_opt_out_in_the_console(stack, browser):
    d = browser
    d.get(f"{stack.base_url}/console")
    wait_for(d, "the page's script to start", lambda d: attr_of(d, "body", "data-ready") == "true")

    # Sign in with a dev token (the defaults are the ones we want, typed anyway).
    for field_id, value in (("sub", "dev-user"), ("project", "demo"), ("role", "owner")):
        box = d.find_element(By.ID, field_id)
        box.clear()
        box.send_keys(value)
    d.find_element(By.ID, "signin").click()
    wait_for(d, "signed in", lambda d: "Signed in as dev-user on project demo"
             in (text_of(d, "#signed-in") or ""))
    wait_for(d, "status not_connected",
             lambda d: attr_of(d, "#connection-status", "data-status") == "not_connected")

    # Connect: our API → the fake Heroku's authorize page (it approves as dev@example.com)
    # → our callback, which holds the grant pending → back to
    # /console?project_id=demo&heroku=confirm&confirmation=… → the page confirms it with
    # the signed-in user's token (docs/contract.md, the confirm route).
    d.find_element(By.ID, "connect").click()
    wait_for(d, "status connected after the OAuth round trip and the confirm step",
             lambda d: attr_of(d, "#connection-status", "data-status") == "connected")
    assert d.current_url == f"{stack.base_url}/console", "the callback's query is tidied away"
    assert "Heroku connection confirmed" in text_of(d, "#messages")
    assert text_of(d, "#connection-account") == "dev@example.com"

    # The database list, and the link.
    option_css = '#database option[data-app="dev-app"][data-config-var="DATABASE_URL"]'
    wait_for(d, "dev-app's DATABASE_URL in the database list",
             lambda d: d.find_elements(By.CSS_SELECTOR, option_css))
    choice = d.find_element(By.CSS_SELECTOR, option_css).get_attribute("value")
    Select(d.find_element(By.ID, "database")).select_by_value(choice)
    d.find_element(By.ID, "env-var").send_keys(ENV_VAR)
    d.find_element(By.ID, "link").click()
    wait_for(d, "the new row synced at a release",
             lambda d: field(d, "status") == "active" and field(d, "last_release_version"))
    first = int(field(d, "last_release_version"))
    assert f"{ENV_VAR} linked" in text_of(d, "#messages")
    assert field(d, "app", "textContent") == "dev-app"
    assert field(d, "config_var", "textContent") == "DATABASE_URL"
    assert field(d, "last_synced_at", "textContent").endswith("UTC")

    # Open the history; the refresh every 2 s must keep it open (rows update in place).
    d.find_element(By.CSS_SELECTOR, f'{ROW} [data-field="history"] summary').click()
    refreshed = text_of(d, "#refreshed")
    wait_for(d, "a refresh of the status", lambda d: text_of(d, "#refreshed") != refreshed)

    # A credential rotation on the fake Heroku: a release and a signed webhook delivery.
    rotated = post_json(f"{stack.heroku_url}/_fake/apps/dev-app/rotate")["version"]
    assert rotated > first
    wait_for(d, f"the row to show the rotation's release v{rotated}",
             lambda d: field(d, "last_release_version") == str(rotated))
    assert field(d, "last_release_version", "textContent") == f"v{rotated}"
    assert field(d, "status") == "active"
    assert field(d, "last_error", "textContent") == "—"
    wait_for(d, "the sync announced in the live region",
             lambda d: f"{ENV_VAR} synced to release v{rotated}" in (text_of(d, "#messages") or ""))
    history = d.find_element(By.CSS_SELECTOR, f'{ROW} [data-field="history"] details')
    assert history.get_attribute("open") is not None, "the history stayed open"
    assert f"synced · v{rotated}" in history.text

    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    d.save_screenshot(str(SCREENSHOT))

    # Resync now: already at the newest release, so the answer shows that release.
    d.find_element(By.CSS_SELECTOR, f'{ROW} button[data-action="resync"]').click()
    wait_for(d, "the resync's outcome in the live region",
             lambda d: f"{ENV_VAR} resynced at release v{rotated}" in (text_of(d, "#messages") or ""))
    assert f"Resync of {ENV_VAR} failed" not in (text_of(d, "#messages") or "")

    # Opt out.
    d.find_element(By.CSS_SELECTOR, f'{ROW} button[data-action="opt-out"]').click()
    wait_for(d, "status opted_out", lambda d: field(d, "status") == "opted_out")
    assert f"Opted out of {ENV_VAR}" in text_of(d, "#messages")
    assert field(d, "last_release_version") == str(rotated), "opting out keeps the last sync"

    # What the callback may send the browser back with besides a good confirmation. The
    # page is loaded afresh, so this also shows the sign-in survives in sessionStorage.
    d.get(f"{stack.base_url}/console?project_id=demo&heroku=error&reason=access_denied")
    wait_for(d, "the callback's error shown",
             lambda d: "Heroku connection failed: access_denied" in (text_of(d, "#messages") or ""))
    assert "Signed in as dev-user on project demo" in text_of(d, "#signed-in")
    # A confirmation that is unknown (or used, or expired): the API's 400, shown.
    d.get(f"{stack.base_url}/console?project_id=demo&heroku=confirm&confirmation=not-a-real-one")
    wait_for(d, "the confirm step's failure shown",
             lambda d: "Confirming the connection failed" in (text_of(d, "#messages") or ""))
    assert "400 invalid_confirmation" in text_of(d, "#messages")
    wait_for(d, "the opted-out row after the reload", lambda d: field(d, "status") == "opted_out")

    # No script error on the way (failed fetches are expected: the confirm step's).
    errors = [e for e in d.get_log("browser")
              if e["level"] == "SEVERE" and "Failed to load resource" not in e["message"]]
    assert not errors, errors
