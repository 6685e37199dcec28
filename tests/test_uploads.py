"""Uploads service: a corpus of bad files is refused with a Chinese message and nothing stored."""

from __future__ import annotations

import io
import os
import time
import zlib
from pathlib import Path

import pytest
from PIL import Image
from sqlalchemy import func, select
from werkzeug.datastructures import FileStorage

from app import db
from app.models import StoredFile
from app.uploads import UploadRejected, save_upload, storage_path
from factories import make_enterprise_user


def image_bytes(fmt: str = "PNG", size=(32, 24), mode="RGB", **save_args) -> bytes:
    buffer = io.BytesIO()
    Image.new(mode, size, "red").save(buffer, fmt, **save_args)
    return buffer.getvalue()


def jpeg_with_exif() -> bytes:
    image = Image.new("RGB", (40, 30), "blue")
    exif = Image.Exif()
    exif[0x010F] = "SecretCameraMaker"  # Make
    exif[0x0112] = 6  # Orientation: rotate 90° on display
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", exif=exif.tobytes())
    return buffer.getvalue()


def minimal_pdf(extra: bytes = b"") -> bytes:
    """A well-formed PDF (cross-reference table and startxref, as a PDF library can read it)."""
    return build_pdf([b"<</Type/Catalog/Pages 2 0 R" + extra + b">>", b"<</Type/Pages/Kids[]/Count 0>>"])


def build_pdf(objects: list[bytes], root: int = 1) -> bytes:
    """A well-formed PDF: numbered objects, a classic cross-reference table, startxref."""
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<</Size %d/Root %d 0 R>>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, root, xref)
    return bytes(out)


def build_pdf_with_object_stream(
    objects: list[bytes], packed: list[bytes], root: int = 1, inflate_padding: int = 0
) -> bytes:
    """PDF 1.5: `objects` stored plainly, `packed` inside one Flate-compressed object stream,
    with a cross-reference stream (the only way to point into an object stream)."""
    first_packed = len(objects) + 1
    stream_number = first_packed + len(packed)
    xref_number = stream_number + 1
    header, body = b"", b""
    for index, item in enumerate(packed):
        header += b"%d %d " % (first_packed + index, len(body))
        body += item + b" "
    data = header + body + b" " * inflate_padding
    compressed = zlib.compress(data, 9)
    out = bytearray(b"%PDF-1.5\n%\xe2\xe3\xcf\xd3\n")
    rows = [(0, 0, 65535)]
    for number, item in enumerate(objects, start=1):
        rows.append((1, len(out), 0))
        out += b"%d 0 obj\n" % number + item + b"\nendobj\n"
    stream_offset = len(out)
    out += b"%d 0 obj\n<</Type/ObjStm/N %d/First %d/Filter/FlateDecode/Length %d>>\nstream\n" % (
        stream_number,
        len(packed),
        len(header),
        len(compressed),
    )
    out += compressed + b"\nendstream\nendobj\n"
    rows += [(2, stream_number, index) for index in range(len(packed))]
    rows.append((1, stream_offset, 0))
    xref_offset = len(out)
    rows.append((1, xref_offset, 0))
    table = b"".join(bytes([kind]) + field.to_bytes(4, "big") + gen.to_bytes(2, "big") for kind, field, gen in rows)
    out += b"%d 0 obj\n<</Type/XRef/Size %d/W[1 4 2]/Root %d 0 R/Length %d>>\nstream\n" % (
        xref_number,
        len(rows),
        root,
        len(table),
    )
    out += table + b"\nendstream\nendobj\nstartxref\n%d\n%%%%EOF\n" % xref_offset
    return bytes(out)


def upload(data: bytes, filename: str, accept=("image", "pdf"), enterprise_id=None):
    return save_upload(
        FileStorage(io.BytesIO(data), filename=filename),
        purpose="test",
        enterprise_id=enterprise_id,
        uploaded_by_id=None,
        accept=accept,
    )


def stored_count() -> int:
    return db.session.scalar(select(func.count()).select_from(StoredFile))


def files_on_disk(app) -> list[Path]:
    root = Path(app.config["UPLOAD_ROOT"])
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


def bomb_png() -> bytes:
    # 30000×30000 one-bit pixels compress to a few hundred kilobytes but decode to 900 megapixels.
    buffer = io.BytesIO()
    Image.new("1", (30000, 30000), 0).save(buffer, "PNG")
    return buffer.getvalue()


BAD_FILES = [
    ("wrong extension: PNG named .jpg", lambda: image_bytes("PNG"), "photo.jpg", "扩展名与实际格式不符"),
    ("text named .png", lambda: b"just some text, not an image", "notes.png", "已损坏"),
    ("executable", lambda: b"MZ\x90\x00" + b"\x00" * 100, "setup.exe", "不支持的文件类型"),
    ("truncated JPEG", lambda: image_bytes("JPEG", size=(400, 300))[:600], "cut.jpg", "已损坏"),
    ("decompression bomb", bomb_png, "bomb.png", "尺寸过大"),
    ("HTML with script", lambda: b"<html><script>alert(1)</script></html>", "page.html", "不支持的文件类型"),
    ("HTML named .png", lambda: b"<html><script>alert(1)</script></html>", "page.png", "已损坏"),
    (
        "SVG with script",
        lambda: b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>',
        "logo.svg",
        "不支持的文件类型",
    ),
    (
        "SVG named .png",
        lambda: b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>',
        "logo.png",
        "已损坏",
    ),
    ("GIF", lambda: image_bytes("GIF", mode="P"), "anim.gif", "不支持的文件类型"),
    ("GIF named .png", lambda: image_bytes("GIF", mode="P"), "anim.png", "已损坏"),
    ("fake PDF", lambda: b"<html>not a pdf</html>", "contract.pdf", "PDF 文件已损坏"),
    ("PDF without trailer", lambda: minimal_pdf()[:60], "cut.pdf", "PDF 文件已损坏"),
    (
        "PDF with JavaScript",
        lambda: minimal_pdf(b"/OpenAction<</S/JavaScript/JS(app.alert(1))>>"),
        "js.pdf",
        "包含脚本",
    ),
    ("empty file", lambda: b"", "empty.png", "文件为空"),
    ("no file name", lambda: image_bytes(), "", "请选择要上传的文件"),
]


@pytest.mark.parametrize("label,make,filename,message", BAD_FILES, ids=[b[0] for b in BAD_FILES])
def test_bad_file_is_refused_and_nothing_stored(app, label, make, filename, message):
    with pytest.raises(UploadRejected) as excinfo:
        upload(make(), filename)
    assert message in excinfo.value.message
    assert stored_count() == 0
    assert files_on_disk(app) == []


def test_oversize_is_refused(app):
    app.config["UPLOAD_MAX_IMAGE_BYTES"] = 1000
    try:
        with pytest.raises(UploadRejected) as excinfo:
            upload(image_bytes("PNG", size=(300, 300), mode="RGB") + os.urandom(2000), "big.png")
        assert "文件过大" in excinfo.value.message
    finally:
        del app.config["UPLOAD_MAX_IMAGE_BYTES"]
    assert stored_count() == 0 and files_on_disk(app) == []


def test_image_over_pixel_limit_is_refused_before_decoding(app):
    app.config["UPLOAD_MAX_IMAGE_PIXELS"] = 1000
    try:
        with pytest.raises(UploadRejected) as excinfo:
            upload(image_bytes("PNG", size=(100, 100)), "wide.png")
        assert "尺寸过大" in excinfo.value.message
    finally:
        del app.config["UPLOAD_MAX_IMAGE_PIXELS"]


def test_image_only_field_refuses_pdf(app):
    with pytest.raises(UploadRejected) as excinfo:
        upload(minimal_pdf(), "scan.pdf", accept=("image",))
    assert "JPG/PNG" in excinfo.value.message


def test_good_png_is_stored_outside_static_under_a_random_name(app):
    user = make_enterprise_user()
    stored = upload(image_bytes("PNG"), "营业执照.png", enterprise_id=user.enterprise_id)
    db.session.commit()
    path = storage_path(stored.storage_key)
    assert path.exists() and Path(app.config["UPLOAD_ROOT"]).resolve() in path.parents
    assert "static" not in path.parts
    assert stored.original_name == "营业执照.png"
    assert "营业执照" not in stored.storage_key and len(stored.storage_key) >= 32
    assert stored.content_type == "image/png" and (stored.width, stored.height) == (32, 24)
    assert stored.sha256 and stored.size == path.stat().st_size


def test_exif_is_stripped_and_orientation_applied(app):
    stored = upload(jpeg_with_exif(), "photo.JPG")
    data = storage_path(stored.storage_key).read_bytes()
    assert b"SecretCameraMaker" not in data
    with Image.open(io.BytesIO(data)) as image:
        assert not image.getexif()
        assert image.size == (30, 40)  # rotated as the camera meant it


def test_path_traversal_name_is_only_a_label(app):
    stored = upload(image_bytes("PNG"), "../../../etc/cron.d/evil.png")
    assert stored.original_name == "evil.png"
    for path in files_on_disk(app):
        assert Path(app.config["UPLOAD_ROOT"]).resolve() in path.resolve().parents
    windows = upload(image_bytes("PNG"), "..\\..\\windows\\evil2.png")
    assert windows.original_name == "evil2.png"


def test_good_pdf_is_stored(app):
    stored = upload(minimal_pdf(), "合同.pdf")
    assert stored.content_type == "application/pdf"


def test_download_is_attachment_for_pdf_and_never_sniffed(app, client, auth):
    user = make_enterprise_user()
    stored = upload(minimal_pdf(), "合同.pdf", enterprise_id=user.enterprise_id)
    db.session.commit()
    auth.login(user.username)
    response = client.get(f"/files/{stored.id}")
    assert response.status_code == 200
    assert response.headers["Content-Disposition"].startswith("attachment")
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert "sandbox" in response.headers["Content-Security-Policy"]
    assert response.data == minimal_pdf()


def test_pdf_opens_in_the_browser_viewer_on_request_and_nothing_else_loosens(app, client, auth):
    """?view=1 serves a PDF inline without the CSP sandbox (Chromium's viewer will not start in a
    sandboxed document); other files, and PDFs without it, keep the sandbox."""
    user = make_enterprise_user()
    pdf = upload(minimal_pdf(), "验收证明.pdf", enterprise_id=user.enterprise_id)
    png = upload(image_bytes(), "照片.png", enterprise_id=user.enterprise_id)
    db.session.commit()
    auth.login(user.username)
    response = client.get(f"/files/{pdf.id}?view=1")
    assert response.status_code == 200 and response.headers["Content-Disposition"].startswith("inline")
    policy = response.headers["Content-Security-Policy"]
    assert "sandbox" not in policy and "default-src 'none'" in policy and "frame-ancestors 'self'" in policy
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    image = client.get(f"/files/{png.id}?view=1")
    assert "sandbox" in image.headers["Content-Security-Policy"]
    assert "sandbox" in client.get(f"/files/{pdf.id}").headers["Content-Security-Policy"]


def test_anonymous_cannot_download(app, client):
    stored = upload(image_bytes("PNG"), "a.png")
    db.session.commit()
    response = client.get(f"/files/{stored.id}")
    assert response.status_code == 302 and "/login/" in response.headers["Location"]


def test_file_of_a_rolled_back_upload_is_removed(app):
    stored = upload(image_bytes("PNG"), "kept.png")
    db.session.commit()
    kept = storage_path(stored.storage_key)
    dropped = storage_path(upload(image_bytes("PNG"), "dropped.png").storage_key)
    assert dropped.exists()
    db.session.rollback()  # e.g. the workflow refused the payment this screenshot came with
    assert not dropped.exists() and kept.exists()


# --- PDFs: what a PDF library sees, not what a byte search sees ------------------------------------

PDF_CATALOG = b"<</Type/Catalog/Pages 2 0 R>>"
PDF_PAGES = b"<</Type/Pages/Kids[3 0 R]/Count 1>>"
PDF_PAGE = b"<</Type/Page/Parent 2 0 R/MediaBox[0 0 200 200]/Annots[4 0 R]>>"
PDF_LINK = b"<</Type/Annot/Subtype/Link/Rect[0 0 10 10]/A 5 0 R>>"


def pdf_with_link_action(action: bytes) -> bytes:
    """One page whose link annotation runs `action` when clicked."""
    return build_pdf([PDF_CATALOG, PDF_PAGES, PDF_PAGE, PDF_LINK, action])


ACTIVE_PDFS = [
    ("JavaScript action, name hex-escaped", lambda: pdf_with_link_action(b"<</S/J#61vaScript/J#53(app.alert(1))>>")),
    ("Launch action, name hex-escaped", lambda: pdf_with_link_action(b"<</S/L#61unch/F(cmd.exe)>>")),
    ("ImportData action", lambda: pdf_with_link_action(b"<</S/ImportData/F(data.fdf)>>")),
    (
        "JavaScript inside a compressed object stream",
        lambda: build_pdf_with_object_stream(
            [PDF_CATALOG, PDF_PAGES, PDF_PAGE, PDF_LINK], [b"<</S/JavaScript/JS(app.alert(1))>>"]
        ),
    ),
    (
        "JavaScript name tree inside an object stream, escaped",
        lambda: build_pdf_with_object_stream(
            [b"<</Type/Catalog/Pages 2 0 R/Names 3 0 R>>", b"<</Type/Pages/Kids[]/Count 0>>"],
            [b"<</J#61v#61Script<</Names[(x) 5 0 R]>>>>", b"<</S/URI/URI(http://example.com)>>"],
        ),
    ),
    (
        "embedded file, escaped",
        lambda: build_pdf(
            [
                b"<</Type/Catalog/Pages 2 0 R/Names<</Embedded#46iles 3 0 R>>>>",
                b"<</Type/Pages/Kids[]/Count 0>>",
                b"<</Names[(a.exe) 4 0 R]>>",
                b"<</Type/Filespec/F(a.exe)>>",
            ]
        ),
    ),
    (
        "XFA form",
        lambda: build_pdf(
            [
                b"<</Type/Catalog/Pages 2 0 R/AcroForm 3 0 R>>",
                b"<</Type/Pages/Kids[]/Count 0>>",
                b"<</Fields[]/X#46A 4 0 R>>",
                b"(<xdp/>)",
            ]
        ),
    ),
    ("OpenAction that is an action", lambda: minimal_pdf(b"/OpenAction<</S/GoTo/D[0/Fit]>>")),
    (
        "additional actions on a page",
        lambda: build_pdf(
            [
                PDF_CATALOG,
                PDF_PAGES,
                b"<</Type/Page/Parent 2 0 R/MediaBox[0 0 200 200]/AA<</O<</S/URI/URI(http://example.com)>>>>>>",
            ]
        ),
    ),
]


@pytest.mark.parametrize("label,make", ACTIVE_PDFS, ids=[p[0] for p in ACTIVE_PDFS])
def test_active_pdf_content_is_refused_however_it_is_written(app, label, make):
    with pytest.raises(UploadRejected) as excinfo:
        upload(make(), "scan.pdf")
    assert "包含脚本" in excinfo.value.message
    assert stored_count() == 0 and files_on_disk(app) == []


UNREADABLE_PDFS = [
    ("no cross-reference at all", lambda: b"%PDF-1.4\ngarbage that is no PDF at all\n%%EOF\n"),
    (
        "object stream that inflates past the bound",
        lambda: build_pdf_with_object_stream(
            [PDF_CATALOG, b"<</Type/Pages/Kids[]/Count 0>>"], [b"<</S/URI/URI(x)>>"], inflate_padding=40 * 1024 * 1024
        ),
    ),
]


@pytest.mark.parametrize("label,make", UNREADABLE_PDFS, ids=[p[0] for p in UNREADABLE_PDFS])
def test_pdf_the_library_cannot_read_within_bounds_is_refused(app, label, make):
    data = make()
    started = time.monotonic()
    with pytest.raises(UploadRejected) as excinfo:
        upload(data, "scan.pdf")
    assert time.monotonic() - started < 5
    assert "PDF 文件已损坏" in excinfo.value.message
    assert stored_count() == 0 and files_on_disk(app) == []


def test_harmless_pdfs_are_accepted(app):
    link = pdf_with_link_action(b"<</S/URI/URI(https://example.com)>>")
    packed = build_pdf_with_object_stream([PDF_CATALOG, PDF_PAGES, PDF_PAGE, PDF_LINK], [b"<</S/URI/URI(x)>>"])
    opens_at_page = minimal_pdf(b"/OpenAction[0/Fit]")
    # Binary image data that happens to contain the bytes of a scary name is not a name.
    image = zlib.compress(b"noise /JS /JavaScript /Launch noise" * 50)
    with_binary = build_pdf(
        [
            b"<</Type/Catalog/Pages 2 0 R>>",
            b"<</Type/Pages/Kids[]/Count 0>>",
            b"<</Type/XObject/Subtype/Image/Width 1/Height 1/BitsPerComponent 8/ColorSpace/DeviceGray"
            b"/Filter/FlateDecode/Length %d>>\nstream\n" % len(image) + image + b"\nendstream",
        ]
    )
    for data in (link, packed, opens_at_page, with_binary):
        assert upload(data, "ok.pdf").content_type == "application/pdf"
