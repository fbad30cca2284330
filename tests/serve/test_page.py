"""The page of `speech serve` in a real headless browser: Debian's chromium and chromedriver driven by
selenium against a live server (upload, record from a fake microphone, synthesize and play, an error).

The browser binaries are system packages (apt-get install chromium chromium-driver); without them the
tests skip, or fail when SPEECH_REQUIRE_BROWSER=1 (CI). Selenium is never allowed to download a
browser or driver: both paths are given. A screenshot of the page with both panels filled is saved
into $SPEECH_ARTIFACTS (else the test's tmp_path) and its path printed."""
from __future__ import annotations

import json
import os
import shutil
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from speech.serve.settings import ServeSettings
from tests.conftest import shared_data_root
from tests.serve.conftest import running_server

try:  # selenium comes with the dev extra; without it these tests skip like a missing browser
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import Select, WebDriverWait
except ImportError:
    webdriver = None

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
CLIP = "7_jackson_0.wav"  # an FSDD test clip ("seven") that the bundled digits model gets right
CLIP_WORD = "seven"
MIC_CLIP = "3_george_0.wav"  # what the fake microphone plays, over and over
WAIT_S = 60  # the longest any one wait may take on a busy two-core machine before the test fails

pytestmark = pytest.mark.slow


def _unavailable(msg: str) -> None:
    if os.environ.get("SPEECH_REQUIRE_BROWSER") == "1":
        pytest.fail(msg)
    pytest.skip(msg)


@pytest.fixture(scope="module")
def fake_mic() -> Path | None:
    """The clip the fake microphone plays, when the shared data is there (None: the browser still
    serves the tests that need no data)."""
    path = shared_data_root() / "fsdd" / "recordings" / MIC_CLIP
    return path if path.is_file() else None


@pytest.fixture(scope="module")
def browser(tmp_path_factory, fake_mic):
    """One headless chromium for the module, with a fake microphone playing an FSDD clip (when the
    shared data is there) and autoplay allowed; the browser console is logged for the tests to read."""
    if webdriver is None:
        _unavailable("selenium is not installed (pip install -e '.[dev]')")
    for binary, package in ((CHROMIUM, "chromium"), (CHROMEDRIVER, "chromium-driver")):
        if not binary.is_file():
            _unavailable(f"{binary} not found: apt-get install {package}")
    opts = webdriver.ChromeOptions()
    opts.binary_location = str(CHROMIUM)
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic",
                 "--no-first-run", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--autoplay-policy=no-user-gesture-required", "--window-size=1280,900",
                 f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}",
                 "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream"):
        opts.add_argument(flag)
    if fake_mic is not None:
        opts.add_argument(f"--use-file-for-fake-audio-capture={fake_mic}")
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=opts)
    yield driver
    driver.quit()


@pytest.fixture
def page(browser, live_server):
    """The page of a live server, freshly loaded, once its model lists are filled from /v1/models."""
    browser.get(live_server + "/")
    wait(browser).until(lambda d: Select(d.find_element(By.ID, "asr-model")).options
                        and Select(d.find_element(By.ID, "tts-model")).options)
    browser.get_log("browser")  # start each test with an empty console log
    return browser


def wait(driver, seconds: float = WAIT_S) -> WebDriverWait:
    return WebDriverWait(driver, seconds)


def console_errors(driver) -> list[str]:
    return [e["message"] for e in driver.get_log("browser") if e["level"] == "SEVERE"]


def finished(driver, panel: str) -> None:
    """Wait until a panel's request has come back (data-state "done" or "error") and check it succeeded."""
    wait(driver).until(lambda d: d.find_element(By.ID, panel).get_attribute("data-state") in ("done", "error"))
    assert driver.find_element(By.ID, panel).get_attribute("data-state") == "done", \
        driver.find_element(By.ID, f"error-{panel}").text


def upload(driver, clip: Path) -> None:
    driver.find_element(By.ID, "asr-file").send_keys(str(clip))
    driver.find_element(By.ID, "asr-submit").click()
    finished(driver, "asr")


def synthesize(driver, text: str) -> None:
    box = driver.find_element(By.ID, "tts-text")
    box.clear()
    box.send_keys(text)
    driver.find_element(By.ID, "tts-submit").click()
    finished(driver, "tts")


def word_rows(driver) -> list[list[str]]:
    rows = driver.find_elements(By.CSS_SELECTOR, "#asr-words tbody tr")
    return [[td.text for td in row.find_elements(By.TAG_NAME, "td")] for row in rows]


@pytest.mark.data
def test_upload_shows_the_digit_and_word_timings(page, data_root):
    upload(page, data_root / "fsdd" / "recordings" / CLIP)
    assert page.find_element(By.ID, "asr-text").text == CLIP_WORD
    rows = word_rows(page)
    assert rows and rows[0][0] == CLIP_WORD
    start, end = float(rows[0][1]), float(rows[0][2])
    assert 0.0 <= start < end
    assert console_errors(page) == []


def audio_duration(driver, audio) -> float:
    """Wait until the audio element knows its (finite, positive) duration in seconds."""
    return wait(driver).until(lambda d: d.execute_script(
        "const a = arguments[0]; return isFinite(a.duration) && a.duration > 0 ? a.duration : null;", audio))


def test_synthesized_audio_plays(page):
    sentence = "The quick brown fox jumps over the lazy dog."
    synthesize(page, sentence)
    audio = page.find_element(By.ID, "tts-audio")
    assert audio.get_attribute("src").startswith("blob:")
    page.execute_script("arguments[0].play();", audio)
    duration = audio_duration(page, audio)
    assert 0.5 < duration < 15.0, duration  # nine words: a couple of seconds
    wait(page).until(lambda d: d.execute_script("return arguments[0].currentTime > 0 || arguments[0].ended;", audio))
    assert page.execute_script("return arguments[0].error;", audio) is None
    link = page.find_element(By.ID, "tts-download")
    assert link.is_displayed() and link.get_attribute("href") == audio.get_attribute("src")
    assert link.get_attribute("download").endswith(".wav")
    # the speed slider reaches the server: at 2x the same sentence is clearly shorter
    first_src = audio.get_attribute("src")
    page.find_element(By.ID, "tts-speed").send_keys(Keys.END)
    assert page.find_element(By.ID, "tts-speed-value").text == "2.0"
    synthesize(page, sentence)
    wait(page).until(lambda d: audio.get_attribute("src") != first_src)
    assert audio_duration(page, audio) < 0.8 * duration
    assert console_errors(page) == []


@pytest.mark.data
def test_screenshot_with_both_panels(page, data_root, tmp_path):
    upload(page, data_root / "fsdd" / "recordings" / CLIP)
    synthesize(page, "Seven is the digit I heard.")
    wait(page).until(lambda d: d.execute_script("return isFinite(arguments[0].duration);",
                                                d.find_element(By.ID, "tts-audio")))
    out = Path(os.environ.get("SPEECH_ARTIFACTS") or tmp_path)
    out.mkdir(parents=True, exist_ok=True)
    shot = out / "serve-page.png"
    assert page.save_screenshot(str(shot))
    print(f"screenshot: {shot}")
    assert shot.stat().st_size > 0


@pytest.mark.data
def test_recording_from_the_microphone(page, data_root, fake_mic):
    assert fake_mic is not None, f"FSDD clip {MIC_CLIP} for the fake microphone not found under {data_root}"
    if shutil.which("ffmpeg") is None:
        pytest.skip("the server reads the browser's WebM recording through ffmpeg, which is not on PATH")
    before = page.find_element(By.ID, "asr-text").text
    record = page.find_element(By.ID, "record")
    record.click()
    wait(page).until(lambda d: d.find_element(By.ID, "asr").get_attribute("data-state") == "recording")
    assert record.get_attribute("aria-pressed") == "true"
    clock = page.find_element(By.ID, "record-time")
    wait(page).until(lambda d: float(clock.get_attribute("data-seconds") or 0) >= 2.0)
    record.click()
    finished(page, "asr")
    text = page.find_element(By.ID, "asr-text").text
    assert text and text != before
    assert page.find_element(By.ID, "asr-status").text.startswith("recording.webm:")
    assert record.get_attribute("aria-pressed") == "false"
    assert console_errors(page) == []


def test_server_error_shows_in_the_page(page, live_server):
    box = page.find_element(By.ID, "tts-text")
    box.clear()
    page.find_element(By.ID, "tts-submit").click()
    wait(page).until(lambda d: d.find_element(By.ID, "tts").get_attribute("data-state") == "error")
    # the same request straight to the server: its one-line message is what the page shows
    option = Select(page.find_element(By.ID, "tts-model")).first_selected_option
    body = json.dumps({"model": option.get_attribute("value"), "voice": option.get_attribute("data-voice"),
                       "input": "", "speed": 1.0, "response_format": "wav"}).encode()
    req = urllib.request.Request(live_server + "/v1/audio/speech", body, {"Content-Type": "application/json"})
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(req, timeout=WAIT_S)
    assert err.value.code == 400
    message = json.load(err.value)["error"]["message"]
    shown = page.find_element(By.ID, "error-tts")
    assert shown.is_displayed() and shown.text == message
    assert page.find_element(By.ID, "tts-audio").get_attribute("src") in (None, "")


def test_api_key_is_asked_for_and_kept(browser, served_models):
    """Against a server with a key: the page's first call gets 401, the page shows the server's message
    and opens the key field; the saved key fills the model lists and is still there after a reload."""
    with running_server(served_models, ServeSettings(api_key="page-test-key")) as url:
        try:
            browser.get(url + "/")
            shown = browser.find_element(By.ID, "error-asr")
            wait(browser).until(lambda d: shown.is_displayed())
            with pytest.raises(urllib.error.HTTPError) as err:
                urllib.request.urlopen(url + "/v1/models", timeout=WAIT_S)
            assert err.value.code == 401
            assert shown.text.startswith(json.load(err.value)["error"]["message"])
            assert browser.find_element(By.ID, "key-box").get_attribute("open") is not None
            assert browser.switch_to.active_element.get_attribute("id") == "api-key"
            browser.find_element(By.ID, "api-key").send_keys("page-test-key\n")
            wait(browser).until(lambda d: Select(d.find_element(By.ID, "asr-model")).options)
            assert not shown.is_displayed()
            browser.refresh()
            wait(browser).until(lambda d: Select(d.find_element(By.ID, "tts-model")).options)
            assert not browser.find_element(By.ID, "error-tts").is_displayed()
        finally:
            browser.execute_script("localStorage.clear();")
