"""Uploads: validate, clean and store files outside static; nothing is stored unless it passes."""

from __future__ import annotations

import hashlib
import io
import logging
import os
import secrets
import time
import unicodedata
import warnings
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from flask import current_app
from flask_babel import gettext as _
from PIL import Image, ImageOps
from sqlalchemy import event
from sqlalchemy.orm import Session
from werkzeug.datastructures import FileStorage

from . import db
from .exceptions import UserError
from .models import StoredFile

log = logging.getLogger(__name__)

# The file kinds we accept and, for each, its extensions and default size limit (config may override).
IMAGE_FORMATS = {"JPEG": ("image/jpeg", {".jpg", ".jpeg"}), "PNG": ("image/png", {".png"})}
KIND_EXTENSIONS = {"image": {".jpg", ".jpeg", ".png"}, "pdf": {".pdf"}}
DEFAULT_LIMITS = {
    "UPLOAD_MAX_IMAGE_BYTES": 10 * 1024 * 1024,
    "UPLOAD_MAX_PDF_BYTES": 20 * 1024 * 1024,
    "UPLOAD_MAX_IMAGE_PIXELS": 40_000_000,
    "UPLOAD_MAX_IMAGE_SIDE": 12_000,
}


PENDING_KEY = "uploaded_paths"


@event.listens_for(Session, "after_commit")
def _keep_uploaded_files(session: Session) -> None:
    session.info.pop(PENDING_KEY, None)


@event.listens_for(Session, "after_rollback")
def _remove_uploaded_files(session: Session) -> None:
    """A file whose database row was rolled back is deleted too: no orphans on disk."""
    for path in session.info.pop(PENDING_KEY, []):
        Path(path).unlink(missing_ok=True)


def _track(path: Path) -> None:
    db.session.info.setdefault(PENDING_KEY, []).append(str(path))


class UploadRejected(UserError):
    """A file we refuse, with the Chinese message shown to the user."""


@dataclass
class CheckedFile:
    data: bytes
    content_type: str
    extension: str
    width: int | None = None
    height: int | None = None


def _limit(name: str) -> int:
    return int(current_app.config.get(name, DEFAULT_LIMITS[name]))


def safe_original_name(filename: str | None) -> str:
    """The file's own name without any directory part or control characters, for display only."""
    name = (filename or "").replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(ch for ch in unicodedata.normalize("NFC", name) if unicodedata.category(ch)[0] != "C")
    name = name.strip().lstrip(".") or "file"
    stem, suffix = os.path.splitext(name)
    return stem[: 200 - len(suffix)] + suffix


def _kind_for(extension: str, accept: Iterable[str]) -> str:
    for kind in accept:
        if extension in KIND_EXTENSIONS[kind]:
            return kind
    names = {"image": _("JPG/PNG images"), "pdf": _("PDF files")}
    raise UploadRejected(
        _("This file type is not accepted; you may upload: %(kinds)s", kinds="、".join(names[k] for k in accept))
    )


def _read_limited(file: FileStorage, limit: int) -> bytes:
    data = file.stream.read(limit + 1)
    if len(data) > limit:
        raise UploadRejected(_("The file is too large; the limit is %(mb)s MB", mb=round(limit / 1024 / 1024, 1)))
    if not data:
        raise UploadRejected(_("The file is empty; please choose another one"))
    return data


def check_image(data: bytes, extension: str) -> CheckedFile:
    """Verify a real JPEG/PNG within the pixel limits and re-encode it without metadata (EXIF)."""
    broken = _("The image is damaged or not a valid JPG/PNG image")
    max_pixels = _limit("UPLOAD_MAX_IMAGE_PIXELS")
    max_side = _limit("UPLOAD_MAX_IMAGE_SIDE")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as probe:
                fmt = probe.format
                width, height = probe.size
                if fmt not in IMAGE_FORMATS:
                    raise UploadRejected(broken)
                # Decide on the header's dimensions before decoding a single pixel.
                if width * height > max_pixels or max(width, height) > max_side:
                    raise UploadRejected(
                        _("The image is too large (%(w)s×%(h)s); please reduce it and upload again", w=width, h=height)
                    )
                probe.verify()
            with Image.open(io.BytesIO(data)) as image:
                image.load()
                image = ImageOps.exif_transpose(image)
                content_type, extensions = IMAGE_FORMATS[fmt]
                if extension not in extensions:
                    raise UploadRejected(
                        _("The file name extension does not match the real format; please upload a real JPG/PNG image")
                    )
                out = io.BytesIO()
                if fmt == "JPEG":
                    if image.mode not in ("RGB", "L"):
                        image = image.convert("RGB")
                    image.save(out, "JPEG", quality=90, optimize=True)
                else:
                    if image.mode not in ("RGB", "RGBA", "L", "LA", "P"):
                        image = image.convert("RGBA")
                    image.save(out, "PNG", optimize=True)
                width, height = image.size
    except UploadRejected:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise UploadRejected(_("The image is too large; please reduce it and upload again")) from None
    except (OSError, SyntaxError, ValueError, EOFError, Image.UnidentifiedImageError):
        raise UploadRejected(broken) from None
    return CheckedFile(out.getvalue(), content_type, ".jpg" if fmt == "JPEG" else ".png", width, height)


# Names that make a PDF do something when opened or clicked: scripts, launching programs,
# attachments, multimedia and XFA forms. Compared after pypdf has decoded #xx escapes in names.
PDF_ACTIVE_KEYS = frozenset(
    {"/JS", "/JavaScript", "/Launch", "/EmbeddedFile", "/EmbeddedFiles", "/EF", "/RichMedia", "/XFA"}
)
PDF_ACTIVE_ACTIONS = frozenset(
    {"/JavaScript", "/Launch", "/ImportData", "/SubmitForm", "/GoToE", "/RichMediaExecute", "/Rendition"}
)
PDF_ACTIVE_TYPES = frozenset({"/EmbeddedFile", "/RichMedia", "/FileAttachment"})
# Bounds on the inspection: objects visited, seconds spent, bytes inflated from one compressed stream.
PDF_MAX_OBJECTS = 200_000
PDF_MAX_SECONDS = 5.0
PDF_MAX_INFLATED_STREAM = 16 * 1024 * 1024


class _PdfTooComplex(Exception):
    pass


def _resolve(value):
    from pypdf.generic import IndirectObject

    return value.get_object() if isinstance(value, IndirectObject) else value


def _pdf_has_active_content(reader) -> bool:
    """Walk every object the cross-reference knows (object streams included) and the trailer."""
    from pypdf.generic import ArrayObject, DictionaryObject, IndirectObject

    containers = (IndirectObject, DictionaryObject, ArrayObject)
    pending: list = [reader.trailer]
    for generation, numbers in reader.xref.items():
        pending.extend(IndirectObject(number, generation, reader) for number in numbers)
    pending.extend(IndirectObject(number, 0, reader) for number in reader.xref_objStm)
    seen: set[tuple[int, int]] = set()
    visited = 0
    deadline = time.monotonic() + PDF_MAX_SECONDS
    while pending:
        item = pending.pop()
        if isinstance(item, IndirectObject):
            key = (item.idnum, item.generation)
            if key in seen:
                continue
            seen.add(key)
            item = item.get_object()
        if not isinstance(item, (DictionaryObject, ArrayObject)):
            continue
        visited += 1
        if visited > PDF_MAX_OBJECTS or (visited % 1000 == 0 and time.monotonic() > deadline):
            raise _PdfTooComplex
        if isinstance(item, DictionaryObject):  # stream dictionaries included; their data is not decoded
            for name, value in dict.items(item):
                if name in PDF_ACTIVE_KEYS:
                    return True
                if name in ("/S", "/Type", "/Subtype") and _resolve(value) in PDF_ACTIVE_ACTIONS | PDF_ACTIVE_TYPES:
                    return True
                if name == "/OpenAction" and isinstance(_resolve(value), DictionaryObject):
                    return True  # an action on opening (a plain destination array is fine)
                if name == "/AA" and _resolve(value):
                    return True  # additional actions: on page open, field focus, document close …
                if isinstance(value, containers):
                    pending.append(value)
        elif isinstance(item, ArrayObject):
            pending.extend(value for value in item if isinstance(value, containers))
    return False


def check_pdf(data: bytes) -> CheckedFile:
    """A PDF parsed by pypdf (names decoded, object streams read); active content is refused.

    Whatever pypdf cannot parse within the bounds is refused as damaged: a file we cannot inspect
    is not served to reviewers.
    """
    from pypdf import PdfReader, apply_configuration
    from pypdf.errors import FileNotDecryptedError

    broken = _("The PDF file is damaged or not a valid PDF file")
    if not data.startswith(b"%PDF-") or b"%%EOF" not in data[-2048:]:
        raise UploadRejected(broken)
    limits = {
        "zlib_maximum_output_length": PDF_MAX_INFLATED_STREAM,
        "lzw_maximum_output_length": PDF_MAX_INFLATED_STREAM,
        "run_length_maximum_output_length": PDF_MAX_INFLATED_STREAM,
        "brotli_maximum_output_length": PDF_MAX_INFLATED_STREAM,
        "array_based_stream_maximum_output_length": PDF_MAX_INFLATED_STREAM,
        "stream_decoding_work_maximum_length": 4 * PDF_MAX_INFLATED_STREAM,
        "jbig2dec_binary": None,
        "disable_legacy_handling": True,
    }
    try:
        with apply_configuration(**limits):
            reader = PdfReader(io.BytesIO(data), strict=False)
            if reader.is_encrypted and not reader.decrypt(""):
                raise FileNotDecryptedError("needs a password")
            active = _pdf_has_active_content(reader)
    except FileNotDecryptedError:
        raise UploadRejected(
            _("The PDF file is password-protected; please remove the password and upload again")
        ) from None
    except _PdfTooComplex:
        raise UploadRejected(broken) from None
    except Exception:  # any parser failure on untrusted input: refuse, never serve what we could not read
        log.info("PDF upload refused: pypdf could not parse it", exc_info=True)
        raise UploadRejected(broken) from None
    if active:
        raise UploadRejected(
            _("The PDF file contains scripts or attachments and is not accepted; please export it again and upload")
        )
    return CheckedFile(data, "application/pdf", ".pdf")


def storage_path(storage_key: str) -> Path:
    root = Path(current_app.config["UPLOAD_ROOT"]).resolve()
    path = (root / storage_key[:2] / storage_key).resolve()
    if root not in path.parents:
        raise ValueError("storage key escapes the upload root")
    return path


def save_upload(
    file: FileStorage | None,
    *,
    purpose: str,
    enterprise_id: int | None,
    uploaded_by_id: int | None,
    accept: Iterable[str] = ("image", "pdf"),
) -> StoredFile:
    """Check and store one uploaded file; returns the new (flushed, uncommitted) StoredFile row.

    Raises UploadRejected with a Chinese message; in that case nothing is written anywhere.
    """
    accept = tuple(accept)
    if file is None or not file.filename:
        raise UploadRejected(_("Please choose a file to upload"))
    original_name = safe_original_name(file.filename)
    extension = os.path.splitext(original_name)[1].lower()
    kind = _kind_for(extension, accept)
    if kind == "image":
        checked = check_image(_read_limited(file, _limit("UPLOAD_MAX_IMAGE_BYTES")), extension)
    else:
        checked = check_pdf(_read_limited(file, _limit("UPLOAD_MAX_PDF_BYTES")))

    storage_key = secrets.token_hex(16) + checked.extension
    path = storage_path(storage_key)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".part")
    tmp.write_bytes(checked.data)
    os.replace(tmp, path)
    _track(path)
    stored = StoredFile(
        enterprise_id=enterprise_id,
        uploaded_by_id=uploaded_by_id,
        purpose=purpose,
        original_name=original_name,
        storage_key=storage_key,
        content_type=checked.content_type,
        size=len(checked.data),
        sha256=hashlib.sha256(checked.data).hexdigest(),
        width=checked.width,
        height=checked.height,
    )
    db.session.add(stored)
    try:
        db.session.flush()
    except Exception:
        path.unlink(missing_ok=True)
        raise
    return stored


def store_generated(
    data: bytes, *, original_name: str, content_type: str, purpose: str, enterprise_id: int | None
) -> StoredFile:
    """Store a file the platform made itself (e.g. a workbook with error marks) for protected download."""
    extension = os.path.splitext(original_name)[1].lower()
    storage_key = secrets.token_hex(16) + extension
    path = storage_path(storage_key)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    _track(path)
    stored = StoredFile(
        enterprise_id=enterprise_id,
        purpose=purpose,
        original_name=safe_original_name(original_name),
        storage_key=storage_key,
        content_type=content_type,
        size=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
    )
    db.session.add(stored)
    db.session.flush()
    return stored
