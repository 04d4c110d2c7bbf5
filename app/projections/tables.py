"""Read-model tables. Every row here is derived from events and rebuilt by replaying them."""

from __future__ import annotations

from sqlalchemy import Boolean, Column, Float, Index, Integer, String, Table, Text

from eventstore.schema import metadata

jobs = Table(
    "jobs",
    metadata,
    Column("stream_id", String(200), primary_key=True),
    Column("category", String(64), nullable=False),
    Column("job_id", String(100), nullable=False),
    Column("status", String(32), nullable=False),
    Column("progress", Float, nullable=False, default=0.0),
    Column("attempt", Integer, nullable=False, default=0),
    Column("params", Text, nullable=False),
    Column("result", Text, nullable=True),
    Column("error", Text, nullable=True),
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
    Column("started_at", Float, nullable=True),
    Column("finished_at", Float, nullable=True),
    Column("last_position", Integer, nullable=False),
)
Index("ix_jobs_category_created", jobs.c.category, jobs.c.created_at)
Index("ix_jobs_status", jobs.c.status)
# Jobs by kind and status (the metrics snapshot) are counted on this index alone.
Index("ix_jobs_category_status", jobs.c.category, jobs.c.status)

# Job timings (app/projections/job_timings.py): histograms of completed jobs, one row per kind
# (``category``), model, metric and bucket (``le``, as Prometheus labels it). ``observations``
# counts the jobs that fell in that bucket (not cumulative) and ``total`` sums their values, so a
# completed job updates two rows and a snapshot reads a few rows per model, however many jobs ran.
job_timings = Table(
    "job_timings",
    metadata,
    Column("category", String(64), primary_key=True),
    Column("model", String(200), primary_key=True),
    Column("metric", String(32), primary_key=True),
    Column("le", String(32), primary_key=True),
    Column("observations", Integer, nullable=False),
    Column("total", Float, nullable=False),
)

# Persisted speech-to-text records (docs/speech-to-text-records.md): one row per record stream.
# JSON columns hold lists and maps exactly as the events carried them. The segments are rows of
# ``stt_record_segments``; ``text`` is the transcript as of the last event that set it (the job's
# end, an edit), and ``text_through`` the highest segment id it already holds: the segments after
# it are added to it when the record is read (app/projections/stt_record_queries.py).
stt_records = Table(
    "stt_records",
    metadata,
    Column("stream_id", String(200), primary_key=True),
    Column("id", String(100), nullable=False),
    Column("job_kind", String(32), nullable=False),
    Column("processing_status", String(16), nullable=False),
    Column("progress", Float, nullable=False),
    Column("stage", String(64), nullable=True),
    Column("run", Integer, nullable=False),
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
    Column("completed_at", Float, nullable=True),
    Column("created_position", Integer, nullable=False),
    Column("last_position", Integer, nullable=False),
    Column("audio", String(64), nullable=False),
    Column("filename", Text, nullable=True),
    Column("content_type", String(200), nullable=True),
    Column("title", Text, nullable=True),
    Column("model", String(200), nullable=False),
    Column("diarization_model", String(200), nullable=True),
    Column("language", String(32), nullable=True),
    Column("min_speakers", Integer, nullable=True),
    Column("max_speakers", Integer, nullable=True),
    Column("generate_summary", Boolean, nullable=False),
    Column("duration", Float, nullable=True),
    Column("text", Text, nullable=True),
    Column("text_through", Integer, nullable=True),
    Column("speakers", Text, nullable=False),
    Column("speaker_labels", Text, nullable=False),
    Column("speaker_turns", Text, nullable=False),
    Column("summary", Text, nullable=True),
    Column("summary_status", String(16), nullable=False),
    Column("summary_id", String(100), nullable=True),
    Column("summary_model", String(200), nullable=True),
    Column("summary_error", Text, nullable=True),
    Column("error", Text, nullable=True),
    Column("result", Text, nullable=True),
)
Index("ix_stt_records_id", stt_records.c.id)
Index("ix_stt_records_kind_position", stt_records.c.job_kind, stt_records.c.created_position)
Index("ix_stt_records_position", stt_records.c.created_position)
Index("ix_stt_records_audio", stt_records.c.audio)

# A record's transcribed segments, one row each as its ``segment_transcribed`` event carried it
# (``words``: JSON), in ``id`` order. Appending one is one insert, at any length of transcript.
stt_record_segments = Table(
    "stt_record_segments",
    metadata,
    Column("stream_id", String(200), primary_key=True),
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("start", Float, nullable=False),
    Column("end", Float, nullable=False),
    Column("text", Text, nullable=False),
    Column("words", Text, nullable=False),
    Column("speaker", String(100), nullable=True),
)

# Which streams claim which media objects (app/projections/media_refs.py): a media object's file
# is deleted only when no stream claims it.
media_references = Table(
    "media_references",
    metadata,
    Column("digest", String(64), primary_key=True),
    Column("stream_id", String(200), primary_key=True),
)
Index("ix_media_references_stream", media_references.c.stream_id)

# Saved voices (docs/saved-voices.md): one row per voice stream, ready or still being transcribed.
saved_voices = Table(
    "saved_voices",
    metadata,
    Column("stream_id", String(200), primary_key=True),
    Column("id", String(100), nullable=False),
    Column("name", Text, nullable=False),
    Column("description", Text, nullable=True),
    Column("status", String(16), nullable=False),
    Column("reference_text", Text, nullable=True),
    Column("language", String(32), nullable=True),
    Column("duration_secs", Float, nullable=False),
    Column("audio", String(64), nullable=False),
    Column("content_type", String(200), nullable=False),
    Column("filename", Text, nullable=True),
    Column("source", String(16), nullable=False),
    Column("source_family", String(32), nullable=True),
    Column("source_record_id", String(100), nullable=True),
    Column("transcription_model", String(200), nullable=True),
    Column("error", Text, nullable=True),
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
    Column("created_position", Integer, nullable=False),
    Column("last_position", Integer, nullable=False),
)
Index("ix_saved_voices_position", saved_voices.c.created_position)

# Speech history records (docs/speech-records.md): one row per record stream (``speech-<id>`` with
# ``record: true``), of the three families. ``result`` holds the completed job's result as JSON.
speech_records = Table(
    "speech_records",
    metadata,
    Column("stream_id", String(200), primary_key=True),
    Column("id", String(100), nullable=False),
    Column("family", String(32), nullable=False),
    Column("status", String(16), nullable=False),
    Column("run", Integer, nullable=False),
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
    Column("completed_at", Float, nullable=True),
    Column("created_position", Integer, nullable=False),
    Column("last_position", Integer, nullable=False),
    Column("model", String(200), nullable=False),
    Column("input", Text, nullable=False),
    Column("voice", String(200), nullable=True),
    Column("speed", Float, nullable=False),
    Column("language", String(32), nullable=True),
    Column("instructions", Text, nullable=True),
    Column("reference_audio", String(64), nullable=True),
    Column("reference_text", Text, nullable=True),
    Column("saved_voice_id", String(100), nullable=True),
    Column("audio", String(64), nullable=True),
    Column("duration_secs", Float, nullable=True),
    Column("sample_rate", Integer, nullable=True),
    Column("error", Text, nullable=True),
    Column("result", Text, nullable=True),
)
Index("ix_speech_records_id", speech_records.c.id)
Index("ix_speech_records_family_position", speech_records.c.family, speech_records.c.created_position)

# Media objects named by path (/v1/media): one row per live path, i.e. per ``media-`` stream.
media_objects = Table(
    "media_objects",
    metadata,
    Column("stream_id", String(200), primary_key=True),
    Column("path", String(1024), nullable=False),
    Column("digest", String(64), nullable=False),
    Column("content_type", String(200), nullable=False),
    Column("filename", Text, nullable=False),
    Column("namespace", Text, nullable=True),
    Column("size_bytes", Integer, nullable=False),
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
    Column("created_position", Integer, nullable=False),
)
Index("ix_media_objects_position", media_objects.c.created_position)
Index("ix_media_objects_path", media_objects.c.path, unique=True)

# Studio (docs/studio.md): folders, projects and render jobs, one row each, for the lists. A
# project's segments, pronunciations and snapshots are folded from its stream when it is read.
studio_folders = Table(
    "studio_folders",
    metadata,
    Column("stream_id", String(200), primary_key=True),
    Column("id", String(100), nullable=False),
    Column("name", Text, nullable=False),
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
    Column("created_position", Integer, nullable=False),
    Column("last_position", Integer, nullable=False),
)
Index("ix_studio_folders_position", studio_folders.c.created_position)

studio_projects = Table(
    "studio_projects",
    metadata,
    Column("stream_id", String(200), primary_key=True),
    Column("id", String(100), nullable=False),
    Column("name", Text, nullable=False),
    Column("folder_id", String(100), nullable=True),
    Column("model", String(200), nullable=False),
    Column("segment_count", Integer, nullable=False),
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
    Column("created_position", Integer, nullable=False),
    Column("last_position", Integer, nullable=False),
)
Index("ix_studio_projects_position", studio_projects.c.created_position)
Index("ix_studio_projects_folder", studio_projects.c.folder_id, studio_projects.c.created_position)

studio_renders = Table(
    "studio_renders",
    metadata,
    Column("stream_id", String(200), primary_key=True),
    Column("id", String(100), nullable=False),
    Column("project_id", String(100), nullable=False),
    Column("project_version", Integer, nullable=False),
    Column("segment_ids", Text, nullable=True),
    Column("status", String(16), nullable=False),
    Column("priority", Integer, nullable=False, server_default="0"),
    Column("progress", Float, nullable=False),
    Column("result", Text, nullable=True),
    Column("error", Text, nullable=True),
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
    Column("created_position", Integer, nullable=False),
    Column("last_position", Integer, nullable=False),
)
Index("ix_studio_renders_project", studio_renders.c.project_id, studio_renders.c.created_position)
Index("ix_studio_renders_waiting", studio_renders.c.status, studio_renders.c.priority)

# Studio schedules (docs/studio.md): one row per schedule, with what its ticker needs to fire it
# (the stream version it is at, the ticks done, the next one due and the last render of each
# target project), and one row per run.
studio_schedules = Table(
    "studio_schedules",
    metadata,
    Column("stream_id", String(200), primary_key=True),
    Column("id", String(100), nullable=False),
    Column("name", Text, nullable=False),
    Column("project_id", String(100), nullable=True),
    Column("folder_id", String(100), nullable=True),
    Column("settings", Text, nullable=False),
    Column("enabled", Boolean, nullable=False),
    Column("anchor", Float, nullable=False),
    Column("fired_through", Float, nullable=False),
    Column("next_fire_at", Float, nullable=True),
    Column("version", Integer, nullable=False),
    Column("last_renders", Text, nullable=False),
    Column("run_count", Integer, nullable=False),
    Column("last_run_at", Float, nullable=True),
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
    Column("created_position", Integer, nullable=False),
    Column("last_position", Integer, nullable=False),
)
Index("ix_studio_schedules_position", studio_schedules.c.created_position)
Index("ix_studio_schedules_due", studio_schedules.c.enabled, studio_schedules.c.next_fire_at)

studio_schedule_runs = Table(
    "studio_schedule_runs",
    metadata,
    Column("run_id", String(100), primary_key=True),
    Column("schedule_id", String(100), nullable=False),
    Column("fire_time", Float, nullable=False),
    Column("fired_at", Float, nullable=False),
    Column("missed", Integer, nullable=False),
    Column("targets", Text, nullable=False),
    Column("export_format", String(16), nullable=True),
    Column("exports", Text, nullable=False),
    Column("pending_exports", Integer, nullable=False),
    Column("created_position", Integer, nullable=False),
)
Index(
    "ix_studio_schedule_runs_schedule",
    studio_schedule_runs.c.schedule_id,
    studio_schedule_runs.c.created_position,
)
Index("ix_studio_schedule_runs_pending", studio_schedule_runs.c.pending_exports)

# Chat threads (app/projections/chat_threads.py): one row per thread, for the list. A thread's
# messages are folded from its stream.
chat_threads = Table(
    "chat_threads",
    metadata,
    Column("stream_id", String(200), primary_key=True),
    Column("id", String(100), nullable=False),
    Column("title", Text, nullable=False),
    Column("model", String(200), nullable=True),
    Column("message_count", Integer, nullable=False),
    Column("last_message", Text, nullable=True),
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
    Column("created_position", Integer, nullable=False),
    Column("last_position", Integer, nullable=False),
)
Index("ix_chat_threads_position", chat_threads.c.created_position)

# Voice sessions (app/projections/voice_sessions.py): one row per session, for the list. A
# session's turns are folded from its stream.
voice_sessions = Table(
    "voice_sessions",
    metadata,
    Column("stream_id", String(200), primary_key=True),
    Column("id", String(100), nullable=False),
    Column("title", Text, nullable=True),
    Column("mode", String(32), nullable=False),
    Column("ended", Boolean, nullable=False),
    Column("turn_count", Integer, nullable=False),
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
    Column("created_position", Integer, nullable=False),
    Column("last_position", Integer, nullable=False),
)
Index("ix_voice_sessions_position", voice_sessions.c.created_position)
