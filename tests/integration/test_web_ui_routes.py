"""The web UI's routes and the APIs it added, through Quart's test client on a real database:
the shell and its assets, `/v1/jobs`, onboarding and preferences (persisted as events)."""

from __future__ import annotations

import asyncio

import pytest
from quart.typing import TestClientProtocol as Client

from app.bootstrap import Container
from app.routes.web.routes import asset_version
from domain.preferences import STREAM_ID
from tests.conftest import NoDispatch, probe_kind


@pytest.fixture(autouse=True)
def _no_broker_for_test_jobs(container: Container) -> None:
    # The test job kind has no actor: record jobs without enqueueing them.
    container.jobs.dispatcher = NoDispatch()  # type: ignore[assignment]


# --- the shell ----------------------------------------------------------------------------


async def test_the_shell_and_its_assets_are_served_with_cache_validators(client: Client) -> None:
    shell = await client.get("/")
    assert shell.status_code == 200 and shell.mimetype == "text/html"
    html = await shell.get_data(as_text=True)
    version = asset_version()
    assert f'<script type="module" src="/ui/{version}/app.js">' in html
    assert shell.headers["Cache-Control"] == "no-cache"
    assert "default-src 'self'" in shell.headers["Content-Security-Policy"]
    module = await client.get(f"/ui/{version}/pages/jobs.js")
    assert module.status_code == 200 and module.mimetype == "text/javascript"
    assert module.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    again = await client.get(
        f"/ui/{version}/pages/jobs.js", headers={"If-None-Match": module.headers["ETag"]}
    )
    assert again.status_code == 304
    css = await client.get(f"/ui/{version}/app.css")
    assert css.status_code == 200 and css.mimetype == "text/css"
    # Another version's URL gets today's file, but is not kept for good.
    stale = await client.get("/ui/0123456789ab/app.css")
    assert stale.status_code == 200 and stale.headers["Cache-Control"] == "no-cache"


async def test_no_asset_or_page_is_fetched_from_anywhere_else(client: Client) -> None:
    from app.web import STATIC_DIR

    for path in STATIC_DIR.rglob("*"):
        if path.is_file():
            text = path.read_text()
            assert "http://" not in text.replace("http://www.w3.org/2000/svg", ""), path
            assert "https://" not in text, path


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/v1/no-such-route"),
        ("POST", "/v1/no-such-route"),
        ("GET", "/internal/nothing"),
        ("GET", "/ui/no-such-file.js"),
        ("GET", "/ui/v/no-such-file.js"),
        ("GET", "/ui/../app/bootstrap.py"),
        ("GET", "/jobs"),
    ],
)
async def test_the_ui_shadows_no_api_path(client: Client, method: str, path: str) -> None:
    response = await client.open(path, method=method)
    assert response.status_code == 404
    assert (await response.get_json())["error"]["code"] == "404"


async def test_the_api_routes_still_answer(client: Client) -> None:
    assert (await client.get("/livez")).status_code == 200
    assert (await client.get("/openapi.json")).status_code == 200
    assert (await client.get("/docs")).status_code == 200


# --- /v1/jobs -------------------------------------------------------------------------------


async def test_jobs_are_listed_newest_first_with_cursors_and_links(
    client: Client, container: Container
) -> None:
    kind = probe_kind("nobody")
    submitted = [
        await asyncio.to_thread(container.jobs.submit, kind, {"filename": f"f{i}.wav"}) for i in range(5)
    ]
    first = await (await client.get("/v1/jobs?limit=2")).get_json()
    assert first["object"] == "list" and first["pagination"] == {
        "next_cursor": first["pagination"]["next_cursor"],
        "has_more": True,
        "limit": 2,
    }
    assert first["last_position"] == container.store.last_position()
    seen = [job["stream_id"] for job in first["records"]]
    cursor = first["pagination"]["next_cursor"]
    while cursor:
        page = await (await client.get(f"/v1/jobs?limit=2&cursor={cursor}")).get_json()
        seen += [job["stream_id"] for job in page["records"]]
        cursor = page["pagination"]["next_cursor"]
    assert seen == list(reversed(submitted))
    job = first["records"][0]
    assert job["status"] == "queued" and job["category"] == "probe" and job["label"] == "f4.wav"
    assert job["events_url"] == f"/v1/streams/{job['stream_id']}/events"
    assert job["record_url"] is None and job["cancel_url"] is None and job["rerun_url"] is None


async def test_jobs_filter_by_category_and_status(client: Client, container: Container) -> None:
    await asyncio.to_thread(container.jobs.submit, probe_kind("nobody"), {})
    await asyncio.to_thread(container.jobs.submit, probe_kind("nobody", "other"), {})
    other = await (await client.get("/v1/jobs?category=other")).get_json()
    assert [job["category"] for job in other["records"]] == ["other"]
    assert (await (await client.get("/v1/jobs?status=completed")).get_json())["records"] == []


async def test_a_bad_jobs_cursor_is_the_contract_error(client: Client) -> None:
    response = await client.get("/v1/jobs?cursor=not-a-cursor")
    assert response.status_code == 400
    body = await response.get_json()
    assert body["error"]["param"] == "cursor" and body["error"]["type"] == "invalid_request_error"


def test_speech_to_text_jobs_link_to_their_record_cancel_and_rerun() -> None:
    from app.routes.jobs.routes import links

    found = links("transcription", "abc", "transcription-abc", {})
    assert found["record_url"] == "/v1/speech-to-text/jobs/abc"
    assert found["cancel_url"] == "/v1/speech-to-text/jobs/abc/cancel"
    assert found["rerun_url"] == "/v1/speech-to-text/jobs/abc/reruns"
    speech = links("speech", "s1", "speech-s1", {"record": True, "family": "text_to_speech"})
    assert speech["record_url"] == "/v1/text-to-speech/s1" and speech["cancel_url"] is None
    assert links("speech", "s2", "speech-s2", {"record": False})["record_url"] is None


# --- onboarding and preferences --------------------------------------------------------------


async def test_onboarding_starts_incomplete_and_completes_once(client: Client, container: Container) -> None:
    assert await (await client.get("/v1/onboarding")).get_json() == {
        "completed": False,
        "completed_at": None,
        "analytics_opt_in": False,
    }
    done = await (await client.post("/v1/onboarding/complete")).get_json()
    assert done["completed"] is True and isinstance(done["completed_at"], int)
    again = await (await client.post("/v1/onboarding/complete")).get_json()
    assert again["completed_at"] == done["completed_at"]  # the first completion is kept
    assert await (await client.get("/v1/onboarding")).get_json() == again
    types = [event.type for event in container.store.read_stream(STREAM_ID)]
    assert types == ["preferences.onboarding_completed", "preferences.onboarding_completed"]


async def test_the_analytics_preference_is_an_event(client: Client, container: Container) -> None:
    assert await (await client.get("/v1/preferences")).get_json() == {"analytics_opt_in": False}
    response = await client.put("/v1/preferences/analytics", json={"opt_in": True})
    assert response.status_code == 200 and await response.get_json() == {"analytics_opt_in": True}
    assert await (await client.get("/v1/preferences")).get_json() == {"analytics_opt_in": True}
    assert (await (await client.get("/v1/onboarding")).get_json())["analytics_opt_in"] is True
    await client.put("/v1/preferences/analytics", json={"opt_in": False})
    events = container.store.read_stream(STREAM_ID)
    assert [(e.type, e.data) for e in events] == [
        ("preferences.analytics_set", {"opt_in": True}),
        ("preferences.analytics_set", {"opt_in": False}),
    ]


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({}, "opt_in"),
        ({"opt_in": "yes"}, "opt_in"),
        ({"opt_in": 1}, "opt_in"),
        ({"opt_in": True, "x": 1}, "x"),
        ([], "opt_in"),
    ],
)
async def test_a_bad_analytics_body_is_refused_with_the_envelope(
    client: Client, body: object, param: str
) -> None:
    response = await client.put("/v1/preferences/analytics", json=body)
    assert response.status_code == 400
    error = (await response.get_json())["error"]
    assert error["param"] == param and error["code"] == "400" and error["message"]


async def test_the_analytics_choice_must_be_json(client: Client) -> None:
    response = await client.put(
        "/v1/preferences/analytics", data="opt_in=true", headers={"Content-Type": "text/plain"}
    )
    assert response.status_code == 415
    assert (await response.get_json())["error"]["type"] == "invalid_request_error"
