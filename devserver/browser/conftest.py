"""Fixtures for the browser test of the reference console: the real dev stack binary
(`target/debug/dev`, built by `make browser-test`) and Debian's headless Chromium driven
through Debian's chromedriver. Nothing is downloaded: the driver's path is given, so
Selenium Manager never runs."""

import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
READY_TIMEOUT_S = 120  # moto's first start on a cold, busy 2-core machine is slow

# Settings the dev stack would take from the environment instead of starting its own
# moto and fake Heroku; the test needs its own, so a developer's shell cannot leak in.
STACK_SETTINGS = (
    "AWS_ENDPOINT_URL",
    "HEROKU_API_URL",
    "HEROKU_ID_URL",
    "TABLE_NAME",
    "SECRET_PREFIX",
    "PUBLIC_BASE_URL",
    "CONSOLE_URL",
    "HEROKU_OAUTH_CLIENT_ID",
    "HEROKU_OAUTH_CLIENT_SECRET",
    "HEROKU_OAUTH_CLIENT_SECRET_ID",
    "WEBHOOK_SIGNING_KEY_ID",
    "DEV_JWT_SECRET",
    "PORT",
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class DevStack:
    """`target/debug/dev` in its own process group; its stdout is read line by line."""

    def __init__(self, workdir: Path):
        target = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))
        binary = target / "debug" / "dev"
        if not binary.exists():
            pytest.fail(
                f"{binary} is missing: run `cargo build --locked --workspace --bins` "
                "(make browser-test does)"
            )
        env = {k: v for k, v in os.environ.items() if k not in STACK_SETTINGS}
        env.setdefault("MOTO_SERVER", str(ROOT / ".venv" / "bin" / "moto_server"))
        env.setdefault("RUST_LOG", "info,aws_config=warn,aws_smithy_runtime=warn,hyper=warn")
        self.lines: list[str] = []
        self.ready = threading.Event()
        self.stderr_path = workdir / "dev.stderr.log"
        self._stderr = open(self.stderr_path, "wb")
        # Its own working directory: the stack writes .stack/dev.env there, and must not
        # overwrite the one of a `make dev` running in the checkout.
        self.proc = subprocess.Popen(
            [str(binary), "--port", str(free_port())],
            cwd=workdir,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            text=True,
            start_new_session=True,
        )
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))
            if line.startswith("ready:"):
                self.ready.set()
        self.ready.set()  # exited: wake the waiter, which sees no ready line

    def wait_ready(self):
        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline and not self.ready.wait(0.2):
            pass
        ready = [l for l in self.lines if l.startswith("ready:")]
        if not ready:
            pytest.fail(
                f"the dev stack printed no ready line within {READY_TIMEOUT_S} s "
                f"(exit code {self.proc.poll()}):\n{self.log_tail()}"
            )
        # "ready: http://127.0.0.1:PORT (Ctrl-C stops everything)"
        self.base_url = ready[0].split()[1]
        heroku = [m.group(1) for l in self.lines if (m := re.search(r"Heroku \(fake\)\s+(http://\S+)", l))]
        if not heroku:
            pytest.fail(f"no fake Heroku URL in the dev stack's banner:\n{self.log_tail()}")
        self.heroku_url = heroku[0]

    def log_tail(self, n: int = 40) -> str:
        err = self.stderr_path.read_text(errors="replace").splitlines()[-n:]
        return "\n".join(["--- stdout ---", *self.lines[-n:], "--- stderr ---", *err])

    def stop(self):
        # Ctrl-C is how dev stops cleanly: it drops the stack, which stops its moto.
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                pass
        # Whatever is left of the group we started (moto, if dev died first).
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait()
        self._stderr.close()


@pytest.fixture
def workdir():
    d = Path(tempfile.mkdtemp(prefix="console-browser-test-"))
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def stack(workdir):
    s = DevStack(workdir)
    try:
        s.wait_ready()
        yield s
    finally:
        s.stop()
        # Shown by pytest only when the test failed.
        print(s.log_tail())


@pytest.fixture
def browser(workdir):
    for path in (CHROMIUM, CHROMEDRIVER):
        if not os.access(path, os.X_OK):
            pytest.fail(f"{path} is missing: apt-get install chromium chromium-driver")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in (
        "--headless",
        "--no-sandbox",  # we run as root, where Chromium's sandbox cannot start
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--window-size=1280,1000",
        f"--user-data-dir={workdir / 'chromium-profile'}",
    ):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    service = Service(executable_path=CHROMEDRIVER, log_output=str(workdir / "chromedriver.log"))
    driver = webdriver.Chrome(service=service, options=options)
    try:
        # --window-size sizes the window; the screenshot is the page's viewport, so
        # grow the window by whatever the browser keeps for itself.
        inner = driver.execute_script("return [window.innerWidth, window.innerHeight]")
        outer = driver.get_window_size()
        driver.set_window_size(
            outer["width"] + 1280 - inner[0], outer["height"] + 1000 - inner[1]
        )
        yield driver
    finally:
        driver.quit()
