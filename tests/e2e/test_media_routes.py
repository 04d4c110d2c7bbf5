"""Media objects by path on a real ``sauti serve``: upload in base64 (alias, data URLs), list page by
page, download whole and by range, nested paths, replace, delete, the 64 MiB limit, and hostile paths
refused with nothing written under the media root."""

from __future__ import annotations

import base64
import http.client
import json
import os
import socket
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import JFK
from tests.e2e.conftest import SautiServer, list_pages

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

MEDIA = "/v1/media"
LIMIT = 64 * 1024 * 1024
SLOW = httpx.Timeout(10.0, read=120.0)


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def unique_bytes(size: int = 64) -> bytes:
    """Bytes no other test stores, so their file is this test's alone."""
    return b"RIFF" + os.urandom(size - 4)


def media_root(server: SautiServer) -> Path:
    return server.data_dir / "media"


def object_file(server: SautiServer, digest: str) -> Path:
    return media_root(server) / digest[:2] / digest


def tree(root: Path) -> list[str]:
    """Everything under ``root`` (files, folders, links; links not followed)."""
    if not root.exists():
        return []
    found = []
    for folder, folders, files in os.walk(root):
        for name in folders + files:
            found.append(os.path.relpath(os.path.join(folder, name), root))
    return sorted(found)


def all_paths(api: httpx.Client) -> list[str]:
    return [record["path"] for found in list_pages(api, MEDIA, 500) for record in found]


def upload(api: httpx.Client, **body: Any) -> dict[str, Any]:
    response = api.post(MEDIA, json=body)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def assert_error(response: httpx.Response | RawResponse, status: int, param: str | None = None) -> None:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] == str(status) and error["message"], error
    if param is not None:
        assert error["param"] == param, error


class RawResponse:
    def __init__(self, status: int, headers: dict[str, str], body: bytes) -> None:
        self.status_code = status
        self.headers = headers
        self.content = body

    @property
    def text(self) -> str:
        return self.content.decode(errors="replace")

    def json(self) -> Any:
        return json.loads(self.content)


def raw_request(server: SautiServer, method: str, target: str) -> RawResponse:
    """Send ``target`` exactly as given: httpx would resolve its ``..`` segments before sending."""
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        connection.request(method, target)
        response = connection.getresponse()
        return RawResponse(response.status, dict(response.getheaders()), response.read())
    finally:
        connection.close()


def read_reply(connection: socket.socket) -> str:
    """One HTTP response (headers and its Content-Length of body) read off a raw socket."""
    received = b""
    while b"\r\n\r\n" not in received:
        received += connection.recv(65536) or b"\r\n\r\n"
    head, _, body = received.partition(b"\r\n\r\n")
    length = next(
        int(line.split(b":", 1)[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length:")
    )
    while len(body) < length:
        chunk = connection.recv(65536)
        if not chunk:
            break
        body += chunk
    return (head + b"\r\n\r\n" + body).decode(errors="replace")


# --- upload, download, list, replace, delete --------------------------------------------


def test_upload_then_download_whole_and_by_range(api: httpx.Client, sauti_server: SautiServer) -> None:
    data = JFK.read_bytes()
    namespace = f"voice/session-{uuid.uuid4().hex[:8]}"
    response = api.post(
        MEDIA,
        json={
            "data_base64": b64(data),
            "content_type": "audio/flac",
            "filename": "utterance.flac",
            "namespace": namespace,
        },
    )
    assert response.status_code == 201, response.text
    created = response.json()
    path = f"{namespace}/utterance.flac"
    assert created["path"] == path
    assert created["url"] == f"{MEDIA}/{path}" == response.headers["location"]
    assert (created["content_type"], created["filename"], created["namespace"]) == (
        "audio/flac",
        "utterance.flac",
        namespace,
    )
    assert created["size_bytes"] == len(data)
    assert object_file(sauti_server, created["sha256"]).read_bytes() == data

    whole = api.get(created["url"])
    assert whole.status_code == 200, whole.text
    assert whole.content == data
    assert whole.headers["content-type"] == "audio/flac"
    assert whole.headers["accept-ranges"] == "bytes"
    assert whole.headers["x-content-type-options"] == "nosniff"
    assert "utterance.flac" in whole.headers["content-disposition"]

    part = api.get(created["url"], headers={"Range": "bytes=100-199"})
    assert part.status_code == 206, part.text
    assert part.content == data[100:200]
    assert part.headers["content-range"] == f"bytes 100-199/{len(data)}"
    assert part.headers["content-type"] == "audio/flac"
    tail = api.get(created["url"], headers={"Range": "bytes=-10"})
    assert tail.status_code == 206, tail.text
    assert tail.content == data[-10:]
    assert tail.headers["content-range"] == f"bytes {len(data) - 10}-{len(data) - 1}/{len(data)}"
    rest = api.get(created["url"], headers={"Range": f"bytes={len(data) - 5}-"})
    assert rest.status_code == 206 and rest.content == data[-5:]
    beyond = api.get(created["url"], headers={"Range": f"bytes=-{len(data) + 100}"})
    assert beyond.status_code == 206 and beyond.content == data
    assert api.get(created["url"], headers={"Range": f"bytes={len(data)}-"}).status_code == 416

    listed = [
        record for record in api.get(MEDIA, params={"limit": 500}).json()["records"] if record["path"] == path
    ]
    assert listed == [{**created}]


def test_the_alias_and_data_urls_are_accepted(api: httpx.Client) -> None:
    flac = JFK.read_bytes()
    folder = f"alias-{uuid.uuid4().hex[:8]}"
    # No content type: the bytes say FLAC.
    aliased = upload(api, audio_base64=b64(flac), filename="jfk.flac", namespace=folder)
    assert (aliased["path"], aliased["content_type"]) == (f"{folder}/jfk.flac", "audio/flac")
    assert api.get(aliased["url"]).content == flac

    # A data URL's media type is used when there is no content_type; no filename: an id and its extension.
    ogg = b"OggS" + os.urandom(60)
    from_url = upload(api, data_base64=f"data:audio/ogg;base64,{b64(ogg)}", namespace=folder)
    assert from_url["content_type"] == "audio/ogg"
    assert from_url["filename"].endswith(".ogg") and from_url["path"] == f"{folder}/{from_url['filename']}"
    downloaded = api.get(from_url["url"])
    assert downloaded.content == ogg and downloaded.headers["content-type"] == "audio/ogg"

    # An explicit content type wins over the data URL's.
    explicit = upload(
        api,
        audio_base64=f"data:audio/wav;base64,{b64(b'hello')}",
        content_type="text/plain",
        namespace=folder,
    )
    assert explicit["content_type"] == "text/plain" and explicit["filename"].endswith(".txt")
    assert api.get(explicit["url"]).headers["content-type"].startswith("text/plain")

    no_namespace = upload(api, data_base64=b64(b"plain"), filename=f"top-{folder}.bin")
    assert no_namespace["path"] == f"top-{folder}.bin" and no_namespace["namespace"] is None


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({}, "data_base64"),
        ({"data_base64": "not base64!"}, "data_base64"),
        ({"audio_base64": "@@@@"}, "audio_base64"),
        ({"data_base64": ""}, "data_base64"),
        ({"data_base64": "data:audio/wav,plain-text"}, "data_base64"),
        ({"data_base64": "AAAA", "audio_base64": "AAAA"}, "audio_base64"),
        ({"data_base64": "AAAA", "content_type": "audio/wav\r\nX-Evil: 1"}, "content_type"),
        ({"data_base64": "AAAA", "content_type": "wav"}, "content_type"),
        ({"data_base64": "AAAA", "filename": 3}, "filename"),
    ],
)
def test_bad_uploads_are_400(api: httpx.Client, body: dict[str, Any], param: str) -> None:
    assert_error(api.post(MEDIA, json=body), 400, param)


def test_uploads_take_json_only(api: httpx.Client) -> None:
    assert_error(api.post(MEDIA, files={"file": ("a.wav", b"RIFF", "audio/wav")}), 415)
    assert_error(api.post(MEDIA, content=b"[1]", headers={"Content-Type": "application/json"}), 400)


def test_uploading_to_a_path_again_replaces_it(api: httpx.Client, sauti_server: SautiServer) -> None:
    path = f"replace-{uuid.uuid4().hex[:8]}/take.wav"
    namespace, filename = path.split("/")
    first_bytes, second_bytes = unique_bytes(), unique_bytes(80)
    first = upload(
        api, data_base64=b64(first_bytes), content_type="audio/wav", filename=filename, namespace=namespace
    )
    assert object_file(sauti_server, first["sha256"]).is_file()
    second = upload(
        api, data_base64=b64(second_bytes), content_type="audio/x-wav", filename=filename, namespace=namespace
    )
    assert second["path"] == first["path"] and second["created_at"] == first["created_at"]
    assert (second["sha256"], second["size_bytes"]) != (first["sha256"], first["size_bytes"])
    downloaded = api.get(second["url"])
    assert downloaded.content == second_bytes and downloaded.headers["content-type"] == "audio/x-wav"
    assert not object_file(sauti_server, first["sha256"]).exists()
    assert all_paths(api).count(path) == 1


def test_list_pages_newest_first_without_gaps_or_repeats(api: httpx.Client) -> None:
    folder = f"page-{uuid.uuid4().hex[:8]}"
    ours = [
        upload(api, data_base64=b64(unique_bytes()), filename=f"{n}.wav", namespace=folder)["path"]
        for n in range(7)
    ]
    listed = list_pages(api, MEDIA, 2)
    seen = [record["path"] for found in listed for record in found]
    assert len(listed) >= 4
    assert len(seen) == len(set(seen))
    assert [path for path in seen if path.startswith(folder + "/")] == ours[::-1]
    assert_error(api.get(MEDIA, params={"cursor": "nonsense"}), 400, "cursor")
    assert_error(api.get(MEDIA, params={"limit": "many"}), 400, "limit")


def test_delete_removes_the_object_and_its_file(api: httpx.Client, sauti_server: SautiServer) -> None:
    created = upload(
        api,
        data_base64=b64(unique_bytes()),
        content_type="audio/wav",
        filename="attachment.wav",
        namespace=f"chat/thread-{uuid.uuid4().hex[:8]}",
    )
    file = object_file(sauti_server, created["sha256"])
    assert file.is_file()
    deleted = api.delete(created["url"])
    assert deleted.status_code == 200, deleted.text
    assert deleted.json() == {"object": "media", "path": created["path"], "deleted": True}
    assert not file.exists()
    assert_error(api.get(created["url"]), 404, "path")
    assert_error(api.delete(created["url"]), 404, "path")
    assert created["path"] not in all_paths(api)


def test_bytes_two_paths_share_stay_while_one_holds_them(
    api: httpx.Client, sauti_server: SautiServer
) -> None:
    data = unique_bytes()
    folder = f"shared-{uuid.uuid4().hex[:8]}"
    one = upload(api, data_base64=b64(data), filename="one.wav", namespace=folder)
    two = upload(api, data_base64=b64(data), filename="two.wav", namespace=folder)
    assert one["sha256"] == two["sha256"]
    assert api.delete(one["url"]).status_code == 200
    assert object_file(sauti_server, two["sha256"]).is_file()
    assert api.get(two["url"]).content == data
    assert api.delete(two["url"]).status_code == 200
    assert not object_file(sauti_server, two["sha256"]).exists()


def test_unknown_media_is_404(api: httpx.Client) -> None:
    assert_error(api.get(f"{MEDIA}/no/such/object-{uuid.uuid4().hex}.wav"), 404, "path")
    assert_error(api.delete(f"{MEDIA}/no-such-object-{uuid.uuid4().hex}.wav"), 404, "path")


def test_uploads_over_64_mib_are_413_and_store_nothing(api: httpx.Client, sauti_server: SautiServer) -> None:
    before = tree(media_root(sauti_server))
    body = json.dumps({"data_base64": b64(bytes(LIMIT + 1)), "filename": "too-big.bin"}).encode()
    response = api.post(MEDIA, content=body, headers={"Content-Type": "application/json"}, timeout=SLOW)
    assert_error(response, 413)
    del body

    # A body declared larger than any upload is refused before it is read.
    with socket.create_connection(("127.0.0.1", sauti_server.port), timeout=10) as connection:
        connection.sendall(
            b"POST /v1/media HTTP/1.1\r\nHost: sauti\r\nContent-Type: application/json\r\n"
            b"Content-Length: 500000000\r\n\r\n{"
        )
        reply = read_reply(connection)
    status_line, _, rest = reply.partition("\r\n")
    assert status_line.startswith("HTTP/1.1 413"), reply
    assert json.loads(rest.partition("\r\n\r\n")[2])["error"]["code"] == "413"
    assert tree(media_root(sauti_server)) == before
    assert "too-big.bin" not in all_paths(api)


# --- hostile paths ----------------------------------------------------------------------

# Request targets sent byte for byte.
HOSTILE_TARGETS = [
    "//etc/passwd",
    "/..",
    "/../x",
    "/../../../../etc/passwd",
    "/a/../../b",
    "/a/..",
    "/%2e%2e/x",
    "/%2E%2E%2Fetc",
    "/..%2fetc",
    "/a%2Fb",
    "/%252e%252e/x",
    "/%252e%252e%252fetc",
    "/..\\x",
    "/a\\b",
    "/a%5cb",
    "/a%00b",
    "/%00",
    "/./a",
    "/a/./b",
    "/a//b",
    "/a/",
    "/",
    "/C:%5cx",
    "/C:/x",
    "/~/x",
    "/a%0ab",
    "/a%1bb",
    "/%ff",
    "/%EF%BC%8E%EF%BC%8E/x",
    "/" + "x" * 256,
    "/" + "/".join(["y" * 200] * 6),
]

# Namespaces and file names sent in a JSON upload (decoded values).
HOSTILE_NAMES = [
    "/etc/passwd",
    "..",
    "../x",
    "a/../../b",
    "%2e%2e/x",
    "%2E%2E%2Fetc",
    "..%2fetc",
    "%252e%252e/x",
    "..\\x",
    "a\\b",
    "a\x00b",
    "%00",
    "./a",
    "a//b",
    "a/",
    "C:\\x",
    "~/x",
    "a\nb",
    "a\x1bb",
    "\uff0e\uff0e/x",
    "x" * 2000,
]


def media_state(api: httpx.Client, server: SautiServer) -> tuple[list[str], list[str]]:
    """What is under the media root, and every path the API lists."""
    return tree(media_root(server)), all_paths(api)


def test_hostile_paths_are_refused_by_get_and_delete(api: httpx.Client, sauti_server: SautiServer) -> None:
    # The raw requests reach the route as sent: a valid path through the same helper is found.
    known = upload(api, data_base64=b64(b"control"), filename="control.bin", namespace="raw-control")
    control = raw_request(sauti_server, "GET", known["url"])
    assert control.status_code == 200 and control.content == b"control"
    before = media_state(api, sauti_server)

    for target in HOSTILE_TARGETS:
        for method in ("GET", "DELETE"):
            response = raw_request(sauti_server, method, MEDIA + target)
            assert response.status_code == 400, (method, target, response.text)
            assert_error(response, 400, "path")
    assert media_state(api, sauti_server) == before
    assert raw_request(sauti_server, "GET", known["url"]).content == b"control"


def test_hostile_namespaces_and_filenames_are_refused(api: httpx.Client, sauti_server: SautiServer) -> None:
    before = media_state(api, sauti_server)
    for name in HOSTILE_NAMES:
        body = {"data_base64": b64(b"nope"), "content_type": "text/plain"}
        as_namespace = api.post(MEDIA, json={**body, "namespace": name, "filename": "x.txt"})
        assert as_namespace.status_code == 400, (name, as_namespace.text)
        assert_error(as_namespace, 400, "namespace")
        as_filename = api.post(MEDIA, json={**body, "namespace": "ok", "filename": name})
        assert as_filename.status_code == 400, (name, as_filename.text)
        assert_error(as_filename, 400, "filename")
    nested = api.post(MEDIA, json={"data_base64": b64(b"nope"), "filename": "a/b.txt"})
    assert_error(nested, 400, "filename")
    assert media_state(api, sauti_server) == before


def test_symbolic_links_out_of_the_media_root_are_refused(
    api: httpx.Client, sauti_server: SautiServer, tmp_path: Path
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("secret")
    root = media_root(sauti_server)
    root.mkdir(parents=True, exist_ok=True)
    link = root / f"escape-{uuid.uuid4().hex[:8]}"
    link.symlink_to(outside, target_is_directory=True)
    try:
        before = media_state(api, sauti_server)
        assert_error(api.get(f"{MEDIA}/{link.name}/secret.txt"), 400, "path")
        assert_error(api.delete(f"{MEDIA}/{link.name}/secret.txt"), 400, "path")
        refused = api.post(
            MEDIA, json={"data_base64": b64(b"nope"), "namespace": link.name, "filename": "secret.txt"}
        )
        assert_error(refused, 400, "namespace")
        refused = api.post(MEDIA, json={"data_base64": b64(b"nope"), "filename": link.name})
        assert_error(refused, 400, "filename")
        assert media_state(api, sauti_server) == before
        assert sorted(p.name for p in outside.iterdir()) == ["secret.txt"]
    finally:
        link.unlink()
