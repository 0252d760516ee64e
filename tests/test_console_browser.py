"""The web console in a real headless Chromium (issue 22): ask a question, upload a file, read
the answer, follow a citation — with the network unreachable for the page (everything it loads
comes from the server; the CSP forbids anything else).

Needs Debian ``chromium`` + ``chromium-driver`` and ``selenium`` (skipped without them).
``SECLLM_SCREENSHOTS=DIR`` also saves the screenshots there (the README's come from this test).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

webdriver = pytest.importorskip("selenium.webdriver")
pytest.importorskip("onnxruntime")
pytest.importorskip("fastapi")
if not shutil.which("chromedriver") or not (shutil.which("chromium") or shutil.which("chromium-browser")):
    pytest.skip("chromium + chromium-driver not installed", allow_module_level=True)

from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support import expected_conditions as EC  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

FIX = Path(__file__).parent / "fixtures" / "assistant"
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "SECLLM_HOME": str(tmp_path_factory.mktemp("home")),
           "PYTHONPATH": str(ROOT / "src") + os.pathsep + os.environ.get("PYTHONPATH", "")}
    proc = subprocess.Popen([sys.executable, "-m", "secllm.cli", "serve", "--port", str(port), "--tasks", "web-attack",
                             "--threads", "1"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    for _ in range(600):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            if proc.poll() is not None:
                pytest.fail("secllm serve exited")
            time.sleep(0.1)
    yield url
    proc.terminate()
    proc.wait(10)


@pytest.fixture(scope="module")
def browser():
    opts = webdriver.ChromeOptions()
    for a in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1100,900",
              "--proxy-server=http://127.0.0.1:9", "--proxy-bypass-list=127.0.0.1"):   # no way out but the server
        opts.add_argument(a)
    drv = webdriver.Chrome(service=webdriver.ChromeService(executable_path=shutil.which("chromedriver")), options=opts)
    yield drv
    drv.quit()


def _shot(browser, tmp_path, name):
    browser.save_screenshot(str(tmp_path / name))
    if os.environ.get("SECLLM_SCREENSHOTS"):
        d = Path(os.environ["SECLLM_SCREENSHOTS"])
        d.mkdir(parents=True, exist_ok=True)
        browser.save_screenshot(str(d / name))


def _ask(browser, question, files=()):
    n = len(browser.find_elements(By.CSS_SELECTOR, ".turn .answer, .turn .error"))
    q = browser.find_element(By.ID, "question")
    q.clear()
    q.send_keys(question)
    for f in files:
        browser.find_element(By.ID, "file").send_keys(str(f))
    browser.find_element(By.ID, "send").click()
    WebDriverWait(browser, 60).until(lambda d: len(d.find_elements(By.CSS_SELECTOR, ".turn .answer, .turn .error")) > n)
    return browser.find_elements(By.CSS_SELECTOR, ".turn")[0]


def test_console_ask_upload_and_follow_a_citation(server, browser, tmp_path):
    browser.get(server + "/console")
    WebDriverWait(browser, 20).until(EC.presence_of_element_located((By.ID, "send")))
    turn = _ask(browser, "请帮我检查这个请求是否是SQL注入: id=1' or 1=1--")
    assert "恶意" in turn.find_element(By.CLASS_NAME, "answer").text
    assert "malicious" in turn.find_element(By.CSS_SELECTOR, "td.malicious").text
    _shot(browser, tmp_path, "console-judge-zh.png")

    turn = _ask(browser, "what happened in this log?", [FIX / "access.log"])
    text = turn.find_element(By.CLASS_NAME, "answer").text
    assert "Scanned 8 items in access.log" in text and "sqli" in text
    _shot(browser, tmp_path, "console-scan-en.png")

    cite = [b for b in turn.find_elements(By.CSS_SELECTOR, "button.cite") if b.text == "CWE-89"][0]
    n = len(browser.find_elements(By.CSS_SELECTOR, ".turn"))
    cite.click()
    WebDriverWait(browser, 60).until(lambda d: len(d.find_elements(By.CSS_SELECTOR, ".turn .answer")) > n - 0
                                     and len(d.find_elements(By.CSS_SELECTOR, ".turn")) > n)
    WebDriverWait(browser, 60).until(lambda d: d.find_elements(By.CSS_SELECTOR, ".turn")[0]
                                     .find_elements(By.CLASS_NAME, "answer"))
    assert "SQL Injection" in browser.find_elements(By.CSS_SELECTOR, ".turn")[0].find_element(By.CLASS_NAME, "answer").text


def test_console_shows_hostile_input_as_text(server, browser):
    browser.get(server + "/console")
    WebDriverWait(browser, 20).until(EC.presence_of_element_located((By.ID, "send")))
    turn = _ask(browser, 'is this malicious: <img src=x onerror="document.title=\'pwned\'"><b id=inj>x</b>')
    assert browser.title == "SecLLM console"
    assert not browser.find_elements(By.ID, "inj") and not browser.find_elements(By.CSS_SELECTOR, ".turn img")
    assert "<img src=x" in turn.find_element(By.CLASS_NAME, "q").text
    logs = [e for e in browser.get_log("browser") if "Content Security Policy" in e.get("message", "")] \
        if hasattr(browser, "get_log") else []
    assert not logs                                          # the page itself needs nothing the CSP forbids
