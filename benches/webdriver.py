"""A headless Chromium driven through chromedriver's plain WebDriver HTTP API, with urllib.

Enough for the benchmarks that open port-advisor's pages: start chromedriver on a free
localhost port, open a session in a fresh profile folder, navigate, run scripts, send a
Chrome DevTools Protocol command (chromedriver's `goog/cdp/execute`), read the top page's
console log, and end everything on `close()`. No pip packages.

The browser log (`POST /session/{id}/se/log`) only holds what the top page logged: a `blob:`
iframe, which Chromium runs as an out-of-process frame, logs where this API cannot see it.
"""
import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
INSTALL_HINT = "apt-get install chromium chromium-driver"
WINDOW = (1400, 1000)
# A command that takes longer than this is a hung browser, not a slow page.
COMMAND_TIMEOUT_S = 120


class WebDriverError(Exception):
    pass


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Browser(object):
    """One chromedriver process and one Chromium session; use as a context manager."""

    def __init__(self, chromium=CHROMIUM, chromedriver=CHROMEDRIVER):
        for path in (chromium, chromedriver):
            if not os.access(path, os.X_OK):
                raise WebDriverError("%s not found (`%s`)" % (path, INSTALL_HINT))
        self.port = free_port()
        self.profile_dir = tempfile.mkdtemp(prefix="port-advisor-bench-chromium-")
        self.driver = subprocess.Popen(
            [chromedriver, "--port=%d" % self.port], stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.base = "http://127.0.0.1:%d" % self.port
        self.session = None
        try:
            self._wait_for_driver()
            capabilities = {
                "browserName": "chrome",
                "pageLoadStrategy": "normal",
                "timeouts": {"pageLoad": COMMAND_TIMEOUT_S * 1000,
                             "script": COMMAND_TIMEOUT_S * 1000},
                "goog:loggingPrefs": {"browser": "ALL"},
                "goog:chromeOptions": {
                    "binary": chromium,
                    "args": [
                        "--headless",
                        "--no-sandbox",
                        "--disable-gpu",
                        "--disable-background-networking",
                        "--user-data-dir=%s" % self.profile_dir,
                        "--window-size=%d,%d" % WINDOW,
                    ],
                },
            }
            answer = self._request("POST", "/session",
                                   {"capabilities": {"alwaysMatch": capabilities}})
            self.session = answer["sessionId"]
            self.version = answer["capabilities"].get("browserVersion", "?")
        except BaseException:
            self.close()
            raise

    def _wait_for_driver(self):
        deadline = time.monotonic() + 20
        while True:
            if self.driver.poll() is not None:
                raise WebDriverError("chromedriver exited at start (status %d)"
                                     % self.driver.returncode)
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    return
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise WebDriverError("chromedriver did not listen on port %d within 20 s"
                                     % self.port)
            time.sleep(0.05)

    def _request(self, method, path, body=None):
        data = None if body is None else json.dumps(body).encode("utf-8")
        request = urllib.request.Request(
            self.base + path, data=data, method=method,
            headers={"Content-Type": "application/json; charset=utf-8"})
        try:
            with urllib.request.urlopen(request, timeout=COMMAND_TIMEOUT_S) as response:
                answer = json.loads(response.read().decode("utf-8"))
        except urllib.error.HTTPError as error:
            try:
                value = json.loads(error.read().decode("utf-8")).get("value", {})
                message = "%s: %s" % (value.get("error"), value.get("message", "").splitlines()[0])
            except (ValueError, AttributeError, IndexError):
                message = str(error)
            raise WebDriverError("%s %s: %s" % (method, path, message))
        return answer.get("value", answer)

    def _session_path(self, suffix):
        return "/session/%s%s" % (self.session, suffix)

    def navigate(self, url):
        """Go to `url`; returns once the page's load event has run (pageLoadStrategy normal)."""
        self._request("POST", self._session_path("/url"), {"url": url})

    def run(self, script, *args):
        """Run `script` as a function body in the page; returns what it `return`s."""
        return self._request("POST", self._session_path("/execute/sync"),
                             {"script": script, "args": list(args)})

    def cdp(self, command, params=None):
        """One Chrome DevTools Protocol command on the top page's target."""
        return self._request("POST", self._session_path("/goog/cdp/execute"),
                             {"cmd": command, "params": params or {}})

    def wait_for(self, condition, timeout_s, interval_s=0.01):
        """Poll the JS expression `condition` until it is truthy; returns the seconds waited,
        or None on timeout."""
        script = "return !!(%s);" % condition
        start = time.perf_counter()
        while True:
            if self.run(script):
                return time.perf_counter() - start
            if time.perf_counter() - start > timeout_s:
                return None
            time.sleep(interval_s)

    def switch_to_frame(self, element):
        """Run the next scripts in the frame `element` (as returned by `run`)."""
        self._request("POST", self._session_path("/frame"), {"id": element})

    def switch_to_top(self):
        self._request("POST", self._session_path("/frame"), {"id": None})

    def browser_log(self):
        """Console entries of the top page since the last call: [{level, message}, ...]."""
        return self._request("POST", self._session_path("/se/log"), {"type": "browser"})

    def close(self):
        if self.session is not None:
            try:
                self._request("DELETE", self._session_path(""))
            except (WebDriverError, OSError):
                pass
            self.session = None
        if self.driver.poll() is None:
            self.driver.terminate()
            try:
                self.driver.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.driver.kill()
                self.driver.wait()
        shutil.rmtree(self.profile_dir, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False
