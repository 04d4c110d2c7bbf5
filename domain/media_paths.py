"""Media paths: the names clients give media objects (``chat/thread-1/attachment.wav``).

Pure. A path is relative to the media root, made of ``/``-separated segments. It is checked as it
will be used (already percent-decoded once), and refused when it could name something outside the
root, or come to after one more decoding or normalization by some other layer: absolute and drive
paths, ``.``/``..``/empty segments, backslashes, percent escapes (double encoding), control and
invisible characters, and compatibility forms that NFKC turns into any of these (fullwidth dots
and slashes). Paths are kept in NFC, so one name spelled in two Unicode forms is one path.
"""

from __future__ import annotations

import re
import unicodedata

from domain.fields import FieldError

MAX_PATH_BYTES = 1024
MAX_SEGMENT_BYTES = 255
MAX_DEPTH = 32

_PERCENT_ESCAPE = re.compile(r"%[0-9A-Fa-f]{2}")
_DRIVE = re.compile(r"^[A-Za-z]:")
# Control, format (invisible), surrogate, private-use and unassigned characters; line separators.
_REFUSED_CATEGORIES = ("C", "Zl", "Zp")


def media_path(value: object, param: str = "path") -> str:
    """The path in NFC, or FieldError naming ``param``."""
    if not isinstance(value, str) or not value:
        raise FieldError(f"`{param}` must be a non-empty relative path.", param)
    path = unicodedata.normalize("NFC", value)
    _check(path, param)
    compatible = unicodedata.normalize("NFKC", path)
    if compatible != path:
        _check(compatible, param)
    return path


def media_filename(value: object, param: str = "filename") -> str:
    """One segment of a path: a file name without any directory."""
    name = media_path(value, param)
    if "/" in name:
        raise FieldError(f"`{param}` must be a file name without '/': put directories in `namespace`.", param)
    return name


def join_media_path(namespace: str | None, filename: str) -> str:
    """``namespace/filename`` (both already checked), checked again as a whole (its length)."""
    if namespace is None:
        return media_path(filename, "filename")
    return media_path(f"{namespace}/{filename}", "namespace")


def _refuse(param: str, reason: str) -> FieldError:
    return FieldError(f"`{param}` must be a relative path inside the media root: {reason}.", param)


def _check(path: str, param: str) -> None:
    for character in path:
        if character == "\\":
            raise _refuse(param, "backslashes are not allowed")
        if unicodedata.category(character).startswith(_REFUSED_CATEGORIES):
            raise _refuse(param, f"character U+{ord(character):04X} is not allowed")
    if _PERCENT_ESCAPE.search(path):
        raise _refuse(param, "percent-encoded characters are not allowed (send the path decoded once)")
    if path.startswith("/"):
        raise _refuse(param, "absolute paths are not allowed")
    if _DRIVE.match(path):
        raise _refuse(param, "drive letters are not allowed")
    if len(path.encode()) > MAX_PATH_BYTES:
        raise _refuse(param, f"it is longer than {MAX_PATH_BYTES} bytes")
    segments = path.split("/")
    if len(segments) > MAX_DEPTH:
        raise _refuse(param, f"it is nested deeper than {MAX_DEPTH} levels")
    for segment in segments:
        _check_segment(segment, param)


def _check_segment(segment: str, param: str) -> None:
    if not segment:
        raise _refuse(param, "empty segments ('//', or a leading or trailing '/') are not allowed")
    if segment in (".", ".."):
        raise _refuse(param, f"'{segment}' segments are not allowed")
    if segment.startswith("~"):
        raise _refuse(param, "segments starting with '~' are not allowed")
    if segment != segment.strip():
        raise _refuse(param, "segments must not start or end with white space")
    if len(segment.encode()) > MAX_SEGMENT_BYTES:
        raise _refuse(param, f"a segment is longer than {MAX_SEGMENT_BYTES} bytes")
