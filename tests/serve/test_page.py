"""The chat page at `/`: served, and driven in headless Chromium (the Debian `chromium` package,
installed here when missing and we are root; skipped with the reason otherwise). Chromium is driven
over the DevTools protocol on a pipe (`--remote-debugging-pipe`), so no driver package is needed.

Set REASONRL_SCREENSHOT=path.png to save a screenshot of the page after the exchange (the README's
picture is made this way).
"""
import base64
import fcntl
import json
import os
import select
import shutil
import subprocess
import time

import pytest

httpx = pytest.importorskip("httpx")

PROMPT = "5-2+0+0-2+3+3+1+1-6="


def test_page_is_served_without_key(server):
    r = httpx.get(server["base_url"] + "/", timeout=10)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    for needle in ('id="input"', 'id="send"', "details", "/v1/chat/completions", "reasoning_content"):
        assert needle in r.text


def _chromium() -> str:
    """Path of a Chromium binary; installs Debian's `chromium` when missing (root + apt-get only)."""
    names = ("chromium", "chromium-browser", "google-chrome")
    found = next((shutil.which(n) for n in names if shutil.which(n)), None)
    if found:
        return found
    if os.environ.get("REASONRL_NO_BROWSER_INSTALL"):
        pytest.skip("Chromium not installed and REASONRL_NO_BROWSER_INSTALL is set")
    if not shutil.which("apt-get") or os.geteuid() != 0:
        pytest.skip("Chromium not installed and cannot be installed here (needs root and apt-get): "
                    "apt-get install chromium")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for cmd in (["apt-get", "update", "-q"], ["apt-get", "install", "-y", "-q", "--no-install-recommends", "chromium"]):
        try:
            done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900)
        except subprocess.TimeoutExpired:
            pytest.skip(f"installing Chromium timed out ({' '.join(cmd)})")
        if done.returncode != 0:
            tail = (done.stderr.strip().splitlines() or ["no output"])[-1]
            pytest.skip(f"cannot install Chromium ({' '.join(cmd)}: {tail})")
    found = next((shutil.which(n) for n in names if shutil.which(n)), None)
    if not found:
        pytest.skip("apt-get installed chromium but no chromium binary is on PATH")
    return found


class Browser:
    """Minimal DevTools-protocol client over Chromium's pipe (fd 3: commands in, fd 4: replies out)."""

    def __init__(self, binary: str, profile: str):
        to_chrome_r, self.to_chrome = os.pipe()
        self.from_chrome, from_chrome_w = os.pipe()

        def wire_fds():                          # in the child: the pipe ends become fds 3 and 4
            high_r = fcntl.fcntl(to_chrome_r, fcntl.F_DUPFD, 10)
            high_w = fcntl.fcntl(from_chrome_w, fcntl.F_DUPFD, 10)
            os.dup2(high_r, 3)
            os.dup2(high_w, 4)
        self.proc = subprocess.Popen(
            [binary, "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
             "--no-first-run", "--remote-debugging-pipe", f"--user-data-dir={profile}",
             "--window-size=900,640", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, preexec_fn=wire_fds, pass_fds=(3, 4),
            close_fds=True)
        os.close(to_chrome_r)
        os.close(from_chrome_w)
        self.buf, self.next_id, self.session = b"", 0, None

    def call(self, method: str, params: dict | None = None, timeout: float = 60) -> dict:
        self.next_id += 1
        msg = {"id": self.next_id, "method": method, "params": params or {}}
        if self.session:
            msg["sessionId"] = self.session
        os.write(self.to_chrome, json.dumps(msg).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while True:
            while b"\0" in self.buf:
                raw, self.buf = self.buf.split(b"\0", 1)
                reply = json.loads(raw)
                if reply.get("id") == self.next_id:
                    if "error" in reply:
                        raise RuntimeError(f"{method}: {reply['error']}")
                    return reply["result"]
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self.from_chrome], [], [], left)[0]:
                raise TimeoutError(f"no reply to {method} within {timeout} s")
            chunk = os.read(self.from_chrome, 1 << 20)
            if not chunk:
                raise RuntimeError("Chromium closed the pipe")
            self.buf += chunk

    def open(self, url: str) -> None:
        target = self.call("Target.createTarget", {"url": url})["targetId"]
        self.session = self.call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]

    def js(self, expression: str):
        out = self.call("Runtime.evaluate", {"expression": expression, "returnByValue": True, "awaitPromise": True})
        if "exceptionDetails" in out:
            raise RuntimeError(f"page script failed: {out['exceptionDetails']}")
        return out["result"].get("value")

    def wait_for(self, expression: str, timeout: float = 60):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = self.js(expression)
            if value:
                return value
            time.sleep(0.05)
        raise TimeoutError(f"page never satisfied: {expression}")

    def close(self) -> None:
        self.proc.kill()
        self.proc.wait(10)
        os.close(self.to_chrome)
        os.close(self.from_chrome)


@pytest.fixture
def browser(tmp_path):
    b = Browser(_chromium(), str(tmp_path / "profile"))
    try:
        b.call("Browser.getVersion", timeout=60)
    except (TimeoutError, RuntimeError) as e:
        b.close()
        pytest.skip(f"Chromium did not start headless here: {e}")
    yield b
    b.close()


def _send(browser, text: str) -> None:
    browser.js(f"document.getElementById('input').value = {json.dumps(text)};"
               "document.getElementById('form').requestSubmit(); true")


def test_browser_sends_a_message_and_sees_a_streamed_answer(server, browser):
    browser.open(server["base_url"] + "/")
    browser.wait_for("location.protocol === 'http:' && document.readyState === 'complete' "
                     "&& !!document.getElementById('key')")     # not the initial about:blank
    browser.js(f"const k = document.getElementById('key'); k.value = {json.dumps(server['key'])};"
               "k.dispatchEvent(new Event('change')); true")
    assert "tiny-walk" in browser.wait_for("document.getElementById('model').textContent.includes('tiny-walk') "
                                           "&& document.getElementById('model').textContent")
    # Record every state of the reply text as it changes: a streamed answer passes through many.
    browser.js("window.__states = new Set(); new MutationObserver(() => { const m = document.querySelector("
               "'.assistant:last-child'); if (m) window.__states.add(m.textContent); })"
               ".observe(document.getElementById('log'), {subtree: true, childList: true, characterData: true});"
               "true")
    _send(browser, PROMPT + "<think>5")          # opens the think block: the model writes its scratchpad
    meta = browser.wait_for("(document.querySelector('.assistant:last-child .meta') || {}).textContent")
    assert meta.startswith("finish: stop"), meta
    got = browser.js("({answer: document.querySelector('.assistant:last-child .answer').textContent,"
                     " reasoning: document.querySelector('.assistant:last-child .reasoning-text').textContent,"
                     " hidden: document.querySelector('.assistant:last-child details').hidden,"
                     " states: window.__states.size})")
    assert got["answer"] == "3"                   # the answer tags are template, not content
    assert got["reasoning"] == ",3,3,3,1,4,7,8,9,3" and not got["hidden"]
    assert got["states"] > 5, got                # the text grew piece by piece, not all at once
    _send(browser, PROMPT)                       # a second turn: a direct answer, no reasoning shown
    browser.wait_for("document.querySelectorAll('.assistant .meta')[1].textContent.startsWith('finish')")
    if os.environ.get("REASONRL_SCREENSHOT"):
        browser.js("document.querySelectorAll('details.reasoning').forEach(d => d.open = true); true")
        png = base64.b64decode(browser.call("Page.captureScreenshot", {"format": "png"})["data"])
        with open(os.environ["REASONRL_SCREENSHOT"], "wb") as fh:
            fh.write(png)
