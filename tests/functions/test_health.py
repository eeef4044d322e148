"""The health function answers without touching any dependency."""

import json

import azure.functions as func

from tests.functions.invoke import call_http


def test_health_says_ok_with_no_settings() -> None:
    response = call_http("health", func.HttpRequest(method="GET", url="/api/health", body=b""))
    assert response.status_code == 200
    assert json.loads(response.get_body()) == {"status": "ok"}
