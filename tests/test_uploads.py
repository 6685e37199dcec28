"""Uploads service: a corpus of bad files is refused with a Chinese message and nothing stored."""

from __future__ import annotations

import io
import os
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
    return (
        b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R" + extra + b">>endobj\n"
        b"2 0 obj<</Type/Pages/Kids[]/Count 0>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n"
    )


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
