"""The HTTP surface that needs no job: probes, health, request ids, errors, OpenAPI and /docs."""

from __future__ import annotations

import http.client
import re

import httpx
import pytest

from tests.e2e.conftest import SautiServer, alive_workers, wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120)]


@pytest.mark.parametrize("path", ["/livez", "/v1/live", "/internal/live"])
def test_liveness(api: httpx.Client, path: str) -> None:
    response = api.get(path)
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


@pytest.mark.parametrize("path", ["/readyz", "/v1/ready", "/internal/ready"])
def test_readiness(api: httpx.Client, path: str) -> None:
    # An earlier test may have killed a worker: the supervisor restarts it within seconds.
    wait_until(lambda: api.get(path).status_code == 200, 30, f"{path} to answer 200")
    body = api.get(path).json()
    assert body["status"] == "ready"
    assert body["checks"]["migrations"]["ok"] is True
    assert body["checks"]["workers"]["ok"] is True
    assert body["checks"]["workers"]["alive"] >= 1


@pytest.mark.parametrize("path", ["/v1/health", "/internal/health"])
def test_health(api: httpx.Client, sauti_server: SautiServer, path: str) -> None:
    wait_until(lambda: alive_workers(api), 30, "an alive worker")
    response = api.get(path)
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert re.fullmatch(r"\d+\.\d+\.\d+.*", body["version"])
    assert isinstance(body["uptime_secs"], (int, float)) and body["uptime_secs"] >= 0
    assert body["database"]["backend"] == "sqlite"
    assert body["database"]["ok"] is True
    assert body["database"]["revision"] == body["database"]["head"]
    assert body["broker"]["kind"] == "sqlite"
    assert body["workers"]["alive"] >= 1
    assert body["data_dir"] == str(sauti_server.data_dir)
    processes = body["workers"]["processes"]
    assert processes and all(isinstance(p["pid"], int) and "alive" in p for p in processes)
    assert any(p["alive"] for p in processes)
    assert isinstance(body["jobs"], dict)


def test_uptime_grows(api: httpx.Client) -> None:
    first = api.get("/v1/health").json()["uptime_secs"]
    wait_until(lambda: api.get("/v1/health").json()["uptime_secs"] > first, 5, "uptime to grow")


def test_request_id_is_echoed(api: httpx.Client, sauti_server: SautiServer) -> None:
    request_id = "e2e-request.id:42"
    response = api.get("/livez", headers={"x-request-id": request_id})
    assert response.headers["x-request-id"] == request_id
    # The same id is in the web process's JSON access log line.
    wait_until(
        lambda: any(
            r.get("request_id") == request_id and r.get("path") == "/livez" and r.get("status") == 200
            for r in sauti_server.log_records()
        ),
        5,
        "the access log line carrying the request id",
    )


def test_request_id_is_generated(api: httpx.Client) -> None:
    first = api.get("/livez").headers.get("x-request-id")
    second = api.get("/livez").headers.get("x-request-id")
    assert first and second and first != second
    # Not a usable id (spaces, too long): replaced by a generated one.
    for bad in ("has spaces", "x" * 200):
        generated = api.get("/livez", headers={"x-request-id": bad}).headers["x-request-id"]
        assert generated and generated != bad


def test_request_id_on_errors(api: httpx.Client) -> None:
    response = api.get("/v1/no-such-route", headers={"x-request-id": "err-id-1"})
    assert response.status_code == 404
    assert response.headers["x-request-id"] == "err-id-1"


def _assert_envelope(response: httpx.Response, status: int) -> dict[str, object]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error"}, body
    error = body["error"]
    assert set(error) == {"message", "type", "param", "code"}, error
    assert error["code"] == str(status)
    assert isinstance(error["message"], str) and error["message"]
    assert isinstance(error["type"], str) and error["type"]
    return error


def test_unknown_route_is_404_envelope(api: httpx.Client) -> None:
    error = _assert_envelope(api.get("/v1/definitely-not-a-route"), 404)
    assert error["type"] == "not_found_error"
    assert error["param"] is None


def test_wrong_method_is_405_envelope(api: httpx.Client) -> None:
    response = api.post("/livez", json={})
    error = _assert_envelope(response, 405)
    assert error["type"] == "invalid_request_error"
    assert "GET" in response.headers.get("allow", "")


def test_unknown_stream_is_404_envelope(api: httpx.Client) -> None:
    error = _assert_envelope(api.get("/v1/streams/probe-does-not-exist/events"), 404)
    assert error["param"] == "stream_id"


def test_bad_query_is_400_envelope(api: httpx.Client) -> None:
    # `until` is validated for SSE requests on /v1/events (a JSON page ignores it there).
    sse = {"Accept": "text/event-stream"}
    _assert_envelope(api.get("/v1/events", params={"until": "forever"}, headers=sse), 400)
    _assert_envelope(api.get("/v1/streams/probe-x/events", params={"until": "forever"}), 400)
    _assert_envelope(api.get("/v1/events", headers={**sse, "Last-Event-ID": "abc"}), 400)
    _assert_envelope(api.get("/v1/events", params={"cursor": "not-a-cursor"}), 400)
    _assert_envelope(api.get("/v1/events", params={"after": "-1"}), 400)


@pytest.mark.parametrize(
    ("path", "content_type"),
    [
        ("/v1/text-to-speech", "text/plain"),  # 415 before the body is read
        ("/v1/audio/transcriptions", "multipart/form-data; boundary=x"),  # 413 from the declared length
    ],
)
def test_a_refused_request_leaves_the_connection_usable(
    sauti_server: SautiServer, path: str, content_type: str
) -> None:
    # The body is read and dropped before the error goes out: a client that sends it whole and
    # then reuses the connection must neither find it reset nor miss the error.
    connection = http.client.HTTPConnection("127.0.0.1", sauti_server.port, timeout=30)
    try:
        connection.request("POST", path, body=b"x" * 30_000_000, headers={"content-type": content_type})
        refused = connection.getresponse()
        assert refused.status in (413, 415) and b'"error"' in refused.read()
        connection.request("GET", "/livez")
        assert connection.getresponse().status == 200
    finally:
        connection.close()


def test_openapi_document(api: httpx.Client) -> None:
    response = api.get("/openapi.json")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    document = response.json()
    assert document["openapi"].startswith("3.")
    assert "/v1/events" in document["paths"]
    assert "/v1/streams/{stream_id}/events" in document["paths"]
    assert document["info"]["title"] == "Sauti"


def test_docs_work_offline(api: httpx.Client) -> None:
    response = api.get("/docs")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    html = response.text
    assert "/docs/static/swagger-ui-bundle.js" in html
    assert "/openapi.json" in html
    # Nothing is fetched from a CDN: the bundle and the stylesheet are served locally.
    assert "cdn.jsdelivr.net" not in html and "unpkg.com" not in html
    bundle = api.get("/docs/static/swagger-ui-bundle.js")
    assert bundle.status_code == 200
    assert "javascript" in bundle.headers["content-type"]
    assert len(bundle.content) > 10_000
    css = api.get("/docs/static/swagger-ui.css")
    assert css.status_code == 200
    assert css.headers["content-type"].startswith("text/css")
    missing = api.get("/docs/static/no-such-file.js")
    assert missing.status_code == 404
