"""Certificates as PDF: the data a certificate shows, its layout from the settings, the rendering with
reportlab, and a cache keyed by the hash of the data (a changed status or 年审 gives a new file).

Chinese text uses WenQuanYi Micro Hei (文泉驿微米黑), a TrueType font shipped by the pinned PyPI package
`paperang-p2-fonts-cjk`: subset-embedded, so the PDF shows the same glyphs on any machine and never
depends on the fonts installed where it is rendered or opened.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import string
from pathlib import Path
from urllib.parse import quote

from flask import current_app
from flask_babel import gettext as _
from reportlab.lib.pagesizes import A4
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen import canvas
from sqlalchemy import select

from . import certificates, db
from .models import Certificate, CertificateDocument, CertificateEvent, FilingApplication, Membership, StoredFile
from .settings import get_setting
from .uploads import store_generated

FONT_NAME = "WenQuanYiMicroHei"
COPIES = {"original": "正本", "duplicate": "副本"}
# The placeholders a layout may use (README, "Certificates as PDF").
PLACEHOLDERS = (
    "association",
    "holder",
    "number",
    "kind",
    "level",
    "valid_from",
    "valid_until",
    "issued_on",
    "annual_reviews",
    "status",
    "copy",
    "credit_code",
    "home_qualification",
    "person_in_charge",
)


def font_path() -> Path:
    import paperang_p2_fonts_cjk

    return Path(paperang_p2_fonts_cjk.__file__).parent / "fonts" / "wqy-microhei.ttc"


def _register_font() -> None:
    if FONT_NAME not in pdfmetrics.getRegisteredFontNames():
        # subfontIndex 0 of the collection is 文泉驿微米黑 (1 is its monospaced cut); TrueType outlines,
        # which reportlab embeds as a subset of the glyphs used.
        pdfmetrics.registerFont(TTFont(FONT_NAME, str(font_path()), subfontIndex=0))


def verification_url(number: str) -> str:
    """The public page for `number`; the number ([ ] and Chinese) is percent-encoded."""
    base = current_app.config.get("PUBLIC_BASE_URL", "http://127.0.0.1:8080").rstrip("/")
    return f"{base}/verify/{quote(number, safe='')}"


def annual_reviews(certificate_id: int) -> list[str]:
    return [
        note or ""
        for note in db.session.scalars(
            select(CertificateEvent.note)
            .where(CertificateEvent.certificate_id == certificate_id, CertificateEvent.event == "annual_review")
            .order_by(CertificateEvent.id)
        )
    ]


def level_label(certificate: Certificate) -> str:
    if certificate.kind == "qualification" and certificate.level:
        from .qualification import level_names

        return level_names().get(certificate.level, certificate.level)
    if certificate.kind == "membership":
        membership = db.session.scalar(select(Membership).where(Membership.certificate_id == certificate.id))
        return membership.tier.name if membership is not None and membership.tier is not None else ""
    return certificate.level or ""


def effective_status(certificate: Certificate, on: dt.date | None = None) -> str:
    """The register's status, with a valid certificate past its validity shown as expired."""
    from .qualification import today

    on = on or today()
    if certificate.status == "valid" and certificate.valid_until is not None and certificate.valid_until < on:
        return "expired"
    return certificate.status


def certificate_data(certificate: Certificate, copy: str = "original") -> dict[str, str]:
    """Everything the PDF shows, as strings: the cache key is their hash."""
    enterprise = certificate.enterprise
    reviews = annual_reviews(certificate.id)
    status = effective_status(certificate)
    data = {
        "association": get_setting("certificate.association_name"),
        "holder": certificate.holder_name,
        "number": certificate.number,
        "kind": str(certificates.KINDS.get(certificate.kind, certificate.kind)),
        "level": level_label(certificate),
        "valid_from": certificate.valid_from.isoformat(),
        "valid_until": certificate.valid_until.isoformat() if certificate.valid_until else _("No expiry"),
        "issued_on": certificate.issued_on.isoformat(),
        "annual_reviews": "；".join(reviews) if reviews else _("None yet"),
        "status": status,
        "status_label": str(certificates.STATUSES.get(status, status)),
        "copy": COPIES.get(copy, copy),
        "credit_code": enterprise.credit_code if enterprise is not None else "",
        "home_qualification": "",
        "person_in_charge": "",
        "verify_url": verification_url(certificate.number),
        "layout": get_setting(f"certificate_layout.{certificate.kind}"),
    }
    if certificate.kind == "filing" and certificate.application_id:
        filing = db.session.get(FilingApplication, certificate.application_id)
        if filing is not None:
            data["home_qualification"] = filing.home_qualification
            data["person_in_charge"] = filing.person_in_charge
    return data


class _Blank(dict):
    """Unknown placeholders stay as written, so a typo in a layout shows instead of failing."""

    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


def fill(line: str, data: dict[str, str]) -> str:
    try:
        return string.Formatter().vformat(line, (), _Blank(data))
    except (ValueError, IndexError):  # a stray brace in the association's text: print the line as it is
        return line


def _wrap(text: str, size: float, width: float) -> list[str]:
    """Break a line by width, character by character (Chinese has no spaces to break at)."""
    lines, current = [], ""
    for char in text:
        if pdfmetrics.stringWidth(current + char, FONT_NAME, size) > width and current:
            lines.append(current)
            current = char
        else:
            current += char
    return [*lines, current]


def _draw_qr(pdf: canvas.Canvas, url: str, x: float, y: float, size: float) -> None:
    """The QR code as vector squares (sharp at any zoom or print size)."""
    import segno

    matrix = [list(row) for row in segno.make_qr(url, error="m").matrix]
    quiet = 4
    cells = len(matrix) + 2 * quiet
    cell = size / cells
    pdf.setFillColorRGB(1, 1, 1)
    pdf.rect(x, y, size, size, stroke=0, fill=1)
    pdf.setFillColorRGB(0, 0, 0)
    path = pdf.beginPath()
    for r, row in enumerate(matrix):
        for c, dark in enumerate(row):
            if dark:
                path.rect(x + (c + quiet) * cell, y + size - (r + quiet + 1) * cell, cell, cell)
    pdf.drawPath(path, stroke=0, fill=1)


def render(data: dict[str, str]) -> bytes:
    """One A4 page: frame, association, title, the layout's paragraphs, status stamp and QR code."""
    _register_font()
    buffer = io.BytesIO()
    width, height = A4
    pdf = canvas.Canvas(buffer, pagesize=A4, pageCompression=1, invariant=1, initialFontName=FONT_NAME)
    pdf.setTitle(f"{data['kind']} {data['number']}")
    pdf.setAuthor(data["association"])
    pdf.setCreator("安防信息管理平台")

    pdf.setStrokeColorRGB(0.62, 0.12, 0.12)
    pdf.setLineWidth(3)
    pdf.rect(15 * mm, 15 * mm, width - 30 * mm, height - 30 * mm)
    pdf.setLineWidth(0.8)
    pdf.rect(18 * mm, 18 * mm, width - 36 * mm, height - 36 * mm)

    lines = [line.strip() for line in (data["layout"] or "").splitlines() if line.strip()]
    title = fill(lines[0], data) if lines else data["kind"]
    pdf.setFillColorRGB(0.1, 0.1, 0.1)
    pdf.setFont(FONT_NAME, 14)
    pdf.drawCentredString(width / 2, height - 40 * mm, data["association"])
    pdf.setFillColorRGB(0.62, 0.12, 0.12)
    pdf.setFont(FONT_NAME, 30)
    pdf.drawCentredString(width / 2, height - 60 * mm, title)

    pdf.setFillColorRGB(0.1, 0.1, 0.1)
    size, left, text_width = 14, 32 * mm, width - 64 * mm
    y = height - 82 * mm
    for line in lines[1:]:
        for part in _wrap(fill(line, data), size, text_width):
            pdf.setFont(FONT_NAME, size)
            pdf.drawString(left, y, part)
            y -= size * 1.9
        if y < 80 * mm:
            break

    if data["status"] != "valid":
        pdf.saveState()
        pdf.setFillColorRGB(0.8, 0.1, 0.1)
        pdf.setFont(FONT_NAME, 44)
        pdf.translate(width / 2, height / 2 - 20 * mm)
        pdf.rotate(20)
        pdf.drawCentredString(0, 0, _("This certificate is %(status)s", status=data["status_label"]))
        pdf.restoreState()

    qr_size = 40 * mm
    note_width = width - 64 * mm - qr_size - 8 * mm
    pdf.setFillColorRGB(0.3, 0.3, 0.3)
    note = _("Scan the QR code or open the address below to verify this certificate:")
    y = 52 * mm
    for part in _wrap(note, 9, note_width):
        pdf.setFont(FONT_NAME, 9)
        pdf.drawString(32 * mm, y, part)
        y -= 12
    for part in _wrap(data["verify_url"], 8, note_width):
        pdf.setFont(FONT_NAME, 8)
        pdf.drawString(32 * mm, y, part)
        y -= 10
    _draw_qr(pdf, data["verify_url"], width - 32 * mm - qr_size, 26 * mm, qr_size)
    pdf.showPage()
    pdf.save()
    return buffer.getvalue()


def content_hash(data: dict[str, str]) -> str:
    return hashlib.sha256(json.dumps(data, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


def document_for(certificate: Certificate, copy: str = "original") -> StoredFile:
    """The certificate's PDF for what it shows now: the cached file, or a new one (the caller commits)."""
    if copy not in COPIES:
        raise ValueError(f"unknown copy {copy!r}")
    data = certificate_data(certificate, copy)
    digest = content_hash(data)
    cached = db.session.scalar(
        select(CertificateDocument).where(
            CertificateDocument.certificate_id == certificate.id,
            CertificateDocument.copy == copy,
            CertificateDocument.content_hash == digest,
        )
    )
    if cached is not None:
        return cached.file
    stored = store_generated(
        render(data),
        original_name=f"{data['kind']}_{certificate.number}_{data['copy']}.pdf",
        content_type="application/pdf",
        purpose="certificate_pdf",
        enterprise_id=certificate.enterprise_id,
    )
    db.session.add(
        CertificateDocument(
            certificate_id=certificate.id,
            enterprise_id=certificate.enterprise_id,
            copy=copy,
            content_hash=digest,
            file_id=stored.id,
        )
    )
    db.session.flush()
    return stored
