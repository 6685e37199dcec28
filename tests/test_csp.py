"""Content Security Policy: no inline script runs unless it carries this response's nonce."""

from __future__ import annotations

import re

import pytest

from factories import make_enterprise_user, make_user

SCRIPT_RE = re.compile(r"<script\b([^>]*)>", re.I)
NONCE_RE = re.compile(r"'nonce-([^']+)'")


def page_urls(app) -> list[str]:
    return [
        rule.rule
        for rule in app.url_map.iter_rules()
        if "GET" in rule.methods
        and not rule.arguments
        and not rule.rule.startswith(("/static", "/appbuilder", "/lang", "/logout", "/regions"))
    ]


@pytest.mark.parametrize("kind", ["anonymous", "enterprise", "admin"])
def test_scripts_need_the_response_nonce(app, client, auth, kind):
    if kind == "enterprise":
        auth.login(make_enterprise_user().username)
    elif kind == "admin":
        auth.login(make_user("Admin").username)
    seen_inline = 0
    for url in page_urls(app):
        response = client.get(url)
        if not response.content_type.startswith("text/html"):
            continue
        csp = response.headers["Content-Security-Policy"]
        script_src = next(part for part in csp.split(";") if part.strip().startswith("script-src"))
        assert "'unsafe-inline'" not in script_src and "'unsafe-eval'" not in script_src, url
        nonces = NONCE_RE.findall(script_src)
        for attributes in SCRIPT_RE.findall(response.get_data(as_text=True)):
            if "src=" in attributes:
                assert re.search(r'src="/', attributes), (url, attributes)  # our own files only
                continue
            seen_inline += 1
            assert nonces and f'nonce="{nonces[0]}"' in attributes, (url, attributes)
    if kind == "admin":
        assert seen_inline, "FAB's list pages carry inline scripts: the sweep must have met some"


def test_nonce_differs_per_response(client):
    first = client.get("/login/").headers["Content-Security-Policy"]
    second = client.get("/login/").headers["Content-Security-Policy"]
    assert NONCE_RE.findall(first) != NONCE_RE.findall(second)
