"""Public certificate verification (no login): `/verify/<number>` and `/api/v1/certificates/<number>`.

Only what the certificate itself states: holder, kind, level, status, validity, last 年审. An unknown
number gets the same answer whatever numbers exist (exact match only, no hints). Rate limited per
client address (`VERIFY_RATE_LIMIT`).

Also the signed-in download of a certificate's PDF (`/certificates/<id>/pdf`): scoped, rendered on
demand and cached by content, then served by the one protected file route.
"""

from __future__ import annotations

from typing import Any

from flask import current_app, jsonify, redirect, request, url_for
from flask_appbuilder import BaseView, expose, has_access
from flask_appbuilder.security.decorators import limit
from flask_babel import gettext as _
from marshmallow import Schema, fields
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from .. import certificates, db
from ..certificate_pdf import COPIES, annual_reviews, document_for, effective_status, level_label
from ..models import Certificate
from ..scoping import get_scoped_or_404
from ..settings import get_setting
from ..workflows.replacement import COPIES as REPLACEMENT_COPIES
from ..workflows.replacement import voided_copies


def verify_limit() -> str:
    return current_app.config.get("VERIFY_RATE_LIMIT", "60 per minute")


class CertificateVerificationSchema(Schema):
    """What anyone may learn about a certificate from its number."""

    number = fields.String()
    kind = fields.String()
    kind_label = fields.String()
    holder = fields.String()
    level = fields.String(allow_none=True)
    status = fields.String()
    status_label = fields.String()
    valid_from = fields.Date()
    valid_until = fields.Date(allow_none=True)
    issued_on = fields.Date()
    last_annual_review = fields.String(allow_none=True)
    void_copies = fields.List(fields.String())  # copies replaced through 证书补办: they no longer count
    issued_by = fields.String()


def lookup(number: str) -> Certificate | None:
    number = (number or "").strip()
    if not number or len(number) > 60:
        return None
    return db.session.scalar(select(Certificate).where(Certificate.number == number))


def public_view(certificate: Certificate) -> dict[str, Any]:
    status = effective_status(certificate)
    reviews = annual_reviews(certificate.id)
    return {
        "number": certificate.number,
        "kind": certificate.kind,
        "kind_label": str(certificates.KINDS.get(certificate.kind, certificate.kind)),
        "holder": certificate.holder_name,
        "level": level_label(certificate) or None,
        "status": status,
        "status_label": str(certificates.STATUSES.get(status, status)),
        "valid_from": certificate.valid_from,
        "valid_until": certificate.valid_until,
        "issued_on": certificate.issued_on,
        "last_annual_review": reviews[-1] if reviews else None,
        "void_copies": [
            _("%(copy)s No. %(n)s", copy=REPLACEMENT_COPIES.get(copy, copy), n=serial)
            for copy, serial in voided_copies(certificate.id)
        ],
        "issued_by": get_setting("certificate.association_name"),
    }


class VerifyView(BaseView):
    """The page the QR code opens."""

    route_base = "/verify"
    default_view = "page"

    @expose("/<number>")
    @limit(verify_limit)
    def page(self, number: str):
        certificate = lookup(number)
        if certificate is None:
            return self.render_template("verify/page.html", found=None, number=number), 404
        data = CertificateVerificationSchema().dump(public_view(certificate))
        return self.render_template("verify/page.html", found=data, number=number)


class CertificateApiView(BaseView):
    """The same facts as JSON."""

    route_base = "/api/v1/certificates"
    default_view = "show"

    @expose("/<number>")
    @limit(verify_limit)
    def show(self, number: str):
        certificate = lookup(number)
        if certificate is None:
            return jsonify({"found": False, "message": "not found"}), 404
        return jsonify({"found": True, "certificate": CertificateVerificationSchema().dump(public_view(certificate))})


class CertificateDocumentView(BaseView):
    """下载证书 / 备案证明下载: the certificate's PDF for the owner (scoped) or association staff."""

    route_base = "/certificates"
    class_permission_name = "CertificateDocument"
    default_view = "download"

    @expose("/<int:certificate_id>/pdf")
    @has_access
    def download(self, certificate_id: int):
        certificate = get_scoped_or_404(Certificate, certificate_id)
        copy = request.args.get("copy", "original")
        if copy not in COPIES:
            copy = "original"
        try:
            stored = document_for(certificate, copy)
            db.session.commit()
        except IntegrityError:  # the same document rendered by a simultaneous request: use that one
            db.session.rollback()
            stored = document_for(certificate, copy)
        return redirect(url_for("FileView.download", file_id=stored.id))
