"""Request bodies: the size limits and how a body is read, refused or drained.

Holds the limits (100 KB JSON; attachments 10 MiB on v1.1, 50 MB on v2), reading a JSON
object or a multipart upload within them, and draining a body nobody reads so the client
can finish sending and read the answer (a 413 instead of a connection reset). It records
what it read on the :class:`~smooch_desktop.sandbox.exchange.Call` for the request log.
What a body must *contain* is not here (that is ``validation.py`` and the handlers).
"""

from __future__ import annotations

import contextlib
import json
import mimetypes
import os
from typing import Any, Final

from werkzeug.datastructures import FileStorage, MultiDict
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from smooch_desktop.sandbox.errors import ErrorReply, bad_request
from smooch_desktop.sandbox.exchange import Call
from smooch_desktop.sandbox.store import sniff_image_type

JSON_BODY_LIMIT: Final = 100 * 1024
ATTACHMENT_LIMIT: Final = 10 * 1024 * 1024
#: v2's file upload limit ("50mb" in the spec's request size table).
V2_ATTACHMENT_LIMIT: Final = 50 * 1024 * 1024
_MULTIPART_OVERHEAD: Final = 64 * 1024
#: Bodies up to this size are read and discarded before a 413, so the client sees the answer
#: instead of a connection reset; beyond it the connection is simply closed.
DRAIN_LIMIT: Final = 64 * 1024 * 1024


def _json_too_large() -> ErrorReply:
    return ErrorReply(413, "payload_too_large", "Request body is larger than 100 KB")


def _attachment_too_large(limit: int = ATTACHMENT_LIMIT) -> ErrorReply:
    return ErrorReply(
        413, "payload_too_large", f"Attachments are limited to {limit // (1024 * 1024)} MB"
    )


def json_body(call: Call) -> dict[str, Any]:
    """The request body as a JSON object, or ErrorReply 400/413 with a clear reason."""
    request = call.request
    length = request.content_length
    if length is not None and length > JSON_BODY_LIMIT:
        discard_body(call)
        raise _json_too_large()
    call.body_touched = True
    try:
        # read one byte past the limit: a chunked body has no length to check up front
        data = _read_upto(request.stream, JSON_BODY_LIMIT + 1)
    except (HTTPException, OSError, ValueError):  # client went away mid-body
        raise bad_request("Request body could not be read completely") from None
    call.raw_body = data[:JSON_BODY_LIMIT]
    if len(data) > JSON_BODY_LIMIT:
        drain(request.environ)
        raise _json_too_large()
    if request.mimetype != "application/json":
        raise bad_request("Content-Type must be application/json")
    if not data.strip():
        raise bad_request("Request body must be a JSON object")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise bad_request("Request body is not valid UTF-8") from None
    try:
        body = json.loads(text, parse_constant=_reject_constant)
    except (ValueError, RecursionError) as exc:
        raise bad_request(f"Request body is not valid JSON ({_short(exc)})") from None
    if not isinstance(body, dict):
        raise bad_request("Request body must be a JSON object")
    return body


def multipart_files(call: Call, file_limit: int = ATTACHMENT_LIMIT) -> MultiDict[str, FileStorage]:
    """The files of a ``multipart/form-data`` upload within ``file_limit`` (or 400/413)."""
    request = call.request
    limit = file_limit + _MULTIPART_OVERHEAD
    if request.content_length is not None and request.content_length > limit:
        discard_body(call)
        raise _attachment_too_large(file_limit)
    if request.mimetype != "multipart/form-data":
        peek_body(call)
        raise bad_request("Content-Type must be multipart/form-data")
    request.max_content_length = limit
    call.body_touched = True
    try:
        files = request.files
        form = request.form
    except RequestEntityTooLarge:
        drain(request.environ)
        raise _attachment_too_large(file_limit) from None
    except (HTTPException, OSError, ValueError):
        raise bad_request("Malformed multipart/form-data body") from None
    call.multipart = _multipart_summary(form, files)
    return files


def attachment_data(source: FileStorage, limit: int = ATTACHMENT_LIMIT) -> bytes:
    """The bytes of one uploaded file, or 413 past ``limit``."""
    data = source.stream.read(limit + 1)
    if len(data) > limit:
        raise _attachment_too_large(limit)
    return data


def clean_filename(name: str | None) -> str:
    """An upload's file name: last path component, no control characters, bounded length;
    ``file`` if nothing is left."""
    base = (name or "").replace("\\", "/").rsplit("/", 1)[-1]
    base = "".join(ch for ch in base if ch.isprintable()).strip().lstrip(".")
    return base[:200] or "file"


def peek_body(call: Call) -> None:
    """Read a small non-multipart body just for the log (refusals, faults)."""
    request = call.request
    length = request.content_length
    if call.body_touched or request.mimetype.startswith("multipart/"):
        return
    if length is None or length > JSON_BODY_LIMIT:
        return
    call.body_touched = True
    with contextlib.suppress(HTTPException, OSError, ValueError):
        call.raw_body = _read_upto(request.stream, JSON_BODY_LIMIT)


def discard_body(call: Call) -> None:
    """Drain a body nobody read, so the client can finish sending and read our answer."""
    if not call.body_touched:
        call.body_touched = True
        drain(call.request.environ)


def drain(environ: dict[str, Any]) -> None:
    """Read and discard a request body we refuse, so the client can read our answer."""
    stream = environ.get("wsgi.input")
    if stream is None:
        return
    try:
        length = int(environ.get("CONTENT_LENGTH") or -1)
    except ValueError:
        length = -1
    chunked = bool(environ.get("wsgi.input_terminated"))
    if length < 0 and not chunked:
        return
    remaining = min(length, DRAIN_LIMIT) if length >= 0 else DRAIN_LIMIT
    try:
        while remaining > 0:
            chunk = stream.read(min(remaining, 1 << 20))
            if not chunk:
                break
            remaining -= len(chunk)
    except (OSError, ValueError):
        pass


def _read_upto(stream: Any, limit: int) -> bytes:
    """Read until EOF or ``limit`` bytes, whichever comes first."""
    parts: list[bytes] = []
    remaining = limit
    while remaining > 0:
        chunk = stream.read(min(remaining, 64 * 1024))
        if not chunk:
            break
        parts.append(chunk)
        remaining -= len(chunk)
    return b"".join(parts)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _short(exc: BaseException) -> str:
    return str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__


def _multipart_summary(form: Any, files: Any) -> dict[str, Any]:
    """What the log shows of a multipart body: fields (truncated) and file metadata."""
    summary_files = []
    for key, storage in files.items(multi=True):
        assert isinstance(storage, FileStorage)
        stream = storage.stream
        try:
            position = stream.tell()
            stream.seek(0, os.SEEK_END)
            size: int | None = stream.tell()
            stream.seek(position)
        except (OSError, ValueError, AttributeError):
            size = None
        summary_files.append(
            {
                "field": key,
                "filename": storage.filename,
                "contentType": storage.mimetype,
                "size": size,
            }
        )
    fields = {key: str(value)[:200] for key, value in form.items(multi=True)}
    return {"multipart": {"fields": fields, "files": summary_files}}


def attachment_purpose(call: Call) -> str | None:
    """The upload's ``for`` (only ``message``), once ``access`` is checked (only ``public``):
    the query rules v1.1 and v2 share."""
    args = call.request.args
    access = args.get("access")
    if access is None:
        raise bad_request('"access" query parameter is required (only "public" exists)')
    if access != "public":
        raise bad_request('"access" must be public')
    purpose = args.get("for")
    if purpose is not None and purpose != "message":
        raise bad_request('"for" must be message')
    return purpose


def store_upload(
    call: Call, app_id: str, owner: str | None, limit: int = ATTACHMENT_LIMIT
) -> tuple[str, str]:
    """Store the multipart field ``source`` within ``limit``: its ``(mediaUrl, mediaType)``.

    The type is the part's own, else the image type its bytes show, else guessed from
    the (cleaned) file name.
    """
    source = multipart_files(call, limit).get("source")
    if source is None:
        raise bad_request('"source" is required: send the file as multipart field "source"')
    data = attachment_data(source, limit)
    filename = clean_filename(source.filename)
    media_type = source.mimetype
    if not media_type or media_type == "application/octet-stream":
        guessed = sniff_image_type(data) or mimetypes.guess_type(filename)[0]
        media_type = guessed or "application/octet-stream"
    media_id = call.store.add_media(app_id, filename, media_type, data, user_ref=owner)
    return call.store.media_url(media_id, filename, call.base), media_type
