"""Which media objects an event claims, and which events release a stream's claims."""

from __future__ import annotations

from domain.media_refs import claimed_media, releases_media, replaces_media

A = "a" * 64
B = "b" * 64


def test_job_inputs_chunks_and_results_claim_their_media() -> None:
    assert claimed_media("transcription.requested", {"params": {"audio": A}}) == [A]
    assert claimed_media("speech.requested", {"params": {"reference_audio": B, "input": "hi"}}) == [B]
    assert claimed_media("speech.chunk_synthesized", {"media": A, "sequence": 0}) == [A]
    assert claimed_media("speech.completed", {"result": {"audio": B}}) == [B]


def test_each_digest_is_claimed_once_and_only_real_digests_count() -> None:
    assert claimed_media("speech.requested", {"params": {"audio": A, "reference_audio": A}}) == [A]
    assert claimed_media("transcription.requested", {"params": {"audio": "../../etc/passwd"}}) == []
    assert claimed_media("transcription.requested", {"params": {"audio": None}}) == []
    assert claimed_media("transcription.requested", {"params": "not a mapping"}) == []
    assert claimed_media("transcription.segment_transcribed", {"media": A}) == []


def test_a_thread_message_claims_each_of_its_attachments() -> None:
    sent = {"attachments": [{"index": 1, "digest": A}, {"index": 2, "digest": B}, {"index": 3, "digest": A}]}
    assert claimed_media("thread.message_sent", sent) == [A, B]
    assert claimed_media("thread.message_sent", {"attachments": []}) == []
    assert claimed_media("thread.message_sent", {"attachments": "not a list"}) == []
    assert claimed_media("thread.message_sent", {"attachments": [None, {"digest": "short"}]}) == []


def test_deletions_release_a_streams_claims() -> None:
    assert releases_media("transcription.record_deleted") and releases_media("voice.deleted")
    assert not releases_media("transcription.completed") and not releases_media("deleted")


def test_a_media_paths_upload_claims_its_object_in_place_of_every_earlier_claim() -> None:
    assert claimed_media("media.uploaded", {"path": "a.wav", "digest": A, "size_bytes": 1}) == [A]
    assert replaces_media("media.uploaded") and releases_media("media.deleted")
    assert not replaces_media("speech.chunk_synthesized") and not replaces_media("media.deleted")
