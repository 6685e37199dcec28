"""Browser journeys: a live server in a thread and Debian's Chromium driven by Playwright.

Without /usr/bin/chromium the journeys are skipped, and the run says so at the end.
"""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path

import pytest
from werkzeug.serving import make_server

from app import create_app
from conftest import NO_BROWSER, app_settings, clean_database
from factories import PASSWORD

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "build" / "screenshots"
logging.getLogger("werkzeug").setLevel(logging.WARNING)


class LiveServer:
    def __init__(self, app):
        self.app = app
        self._server = make_server("127.0.0.1", 0, app, threaded=True)
        self.url = f"http://127.0.0.1:{self._server.server_port}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()


@pytest.fixture(scope="session")
def live_server(_app, tmp_path_factory, database_url):
    # The schema and roles were made by the session `_app` fixture on the same database.
    app = create_app("config.Config", **app_settings(tmp_path_factory.mktemp("live"), database_url))
    server = LiveServer(app)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def live_app(live_server):
    app = live_server.app
    with app.app_context():
        clean_database()
        app.appbuilder.sm.limiter.reset()
    (Path(app.instance_path) / "sms-outbox.jsonl").unlink(missing_ok=True)
    ctx = app.app_context()
    ctx.push()
    yield app
    ctx.pop()


@pytest.fixture(scope="session")
def browser():
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"{NO_BROWSER} {CHROMIUM} (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser, live_server):
    context = browser.new_context(locale="zh-CN", viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.foreign_requests = []
    page.on(
        "request",
        lambda request: (
            None if request.url.startswith((live_server.url, "data:")) else page.foreign_requests.append(request.url)
        ),
    )
    page.set_default_timeout(10_000)
    yield page
    context.close()


def login(page, base: str, username: str, password: str = PASSWORD, kind: str = "企业用户") -> None:
    """The manual's 账号登录: 选择企业用户 -> 输入账号密码 -> 点击登录."""
    page.goto(base + "/login/")
    page.check(f"label:has-text('{kind}') input")
    page.fill("#username", username)
    page.fill("#password", password)
    page.click("button:has-text('登录')")


def logout(page) -> None:
    page.click("button:has-text('退出登录')")
    page.wait_for_url("**/login/**")


def screenshot(page, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
