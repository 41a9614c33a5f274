"""``/docs`` (Swagger UI) and ``/redoc`` load on a closed network: every script, style sheet and
icon they name is served by the app itself (the fastapi-offline package's files), none by a CDN.

Like ``/openapi.json`` they need no token and ignore the busy window, as before: the page is
the API's description, and its "Try it out" calls still need the token.
"""

from __future__ import annotations

import datetime as dt
import re
from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit
from zoneinfo import ZoneInfo

import httpx
import pytest

AMS = ZoneInfo("Europe/Amsterdam")
CONTENT_TYPES = {".js": ("application/javascript", "text/javascript"), ".css": ("text/css",),
                 ".png": ("image/png",)}


class _AssetLinks(HTMLParser):
    """The URLs a browser fetches to draw the page: <script src>, <link href>, <img src>."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        url = attrs.get("src") if tag in ("script", "img") else attrs.get("href") if tag == "link" else None
        if url:
            self.urls.append(url)


def _asset_urls(html: str) -> list[str]:
    parser = _AssetLinks()
    parser.feed(html)
    return parser.urls


@pytest.fixture
def closed_api(serve, smemo):
    """The API with a token and inside its busy window: the strictest a page load meets."""
    now = dt.datetime.now(AMS) - dt.timedelta(minutes=1)
    url, _ = serve(smemo.url, http_token="s3cret", busy_start=now.strftime("%H:%M"), busy_hours=1)
    return url


@pytest.mark.parametrize("page, needs", [
    ("/docs", {"swagger-ui-bundle.js", "swagger-ui.css", "favicon.png"}),
    ("/redoc", {"redoc.standalone.js", "favicon.png"}),
])
def test_the_docs_pages_load_everything_from_the_app(closed_api, page, needs):
    base = closed_api
    response = httpx.get(base + page, timeout=30)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    html = response.text
    # nothing on another host: no absolute URL at all in the page (links, scripts, fonts)
    assert re.findall(r"https?://[^\s\"'<>)]+", html) == []
    urls = _asset_urls(html)
    assert {u.rsplit("/", 1)[-1] for u in urls} >= needs, urls
    for url in urls:
        absolute = urljoin(base + page, url)
        assert urlsplit(absolute).netloc == urlsplit(base).netloc, url
        asset = httpx.get(absolute, timeout=30)  # no token: the page's files are as open as the page
        suffix = "." + url.rsplit(".", 1)[-1]
        assert asset.status_code == 200, url
        assert asset.headers["content-type"].split(";")[0] in CONTENT_TYPES[suffix], (url, asset.headers)
        assert len(asset.content) > 1000, url  # the real file, not an error page
    # the description the page draws, from the app too
    openapi = re.search(r"""(?:url|spec-url)\s*[:=]\s*['"]([^'"]+)['"]""", html)
    assert openapi and openapi.group(1) == "/openapi.json", html[-800:]
    spec = httpx.get(base + openapi.group(1), timeout=30)
    assert spec.status_code == 200 and spec.json()["info"]["title"] == "MEMO task runner"


def test_swagger_ui_asks_no_validator_on_the_internet(closed_api):
    """Swagger UI's default validator badge loads from swagger.io: turned off."""
    html = httpx.get(closed_api + "/docs", timeout=30).text
    assert '"validatorUrl": null' in html


def test_the_docs_answer_as_before_while_runs_stay_closed(closed_api):
    """The token and the busy window guard the runs, not the description of the API."""
    task_id = "5f0c7c1e-2b7a-4d7e-9a59-0d6f3c1b2a10"
    assert httpx.get(f"{closed_api}/runtask/{task_id}", timeout=30).status_code == 401
    answer = httpx.get(f"{closed_api}/runtask/{task_id}", headers={"Authorization": "Bearer s3cret"}, timeout=30)
    assert answer.status_code == 503
    for path in ("/docs", "/redoc", "/openapi.json", "/docs/oauth2-redirect"):
        assert httpx.get(closed_api + path, timeout=30).status_code == 200, path
