"""Certificates as PDF (F16): each kind rendered, rasterised with pdftoppm, not blank, Chinese embedded,
the QR code decoding to the public verification URL; cached by content; downloaded only when scoped."""

from __future__ import annotations

import io
import shutil
import subprocess
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest
from PIL import Image, ImageStat
from pypdf import PdfReader
from sqlalchemy import func, select

from app import certificates, clock, db
from app.certificate_pdf import document_for, verification_url
from app.models import Certificate, CertificateDocument, CertificateEvent, MemberTier
from app.uploads import storage_path
from app.workflows import apply
from factories import (
    make_certificate,
    make_enterprise_user,
    make_filing_application,
    make_out_of_province_user,
    make_user,
)

SCREENSHOTS = Path(__file__).resolve().parent.parent / "build" / "screenshots"

pytestmark = pytest.mark.skipif(shutil.which("pdftoppm") is None, reason="pdftoppm (poppler-utils) is not installed")


def first_page(pdf: bytes, name: str | None = None, dpi: int = 100) -> Image.Image:
    """Page 1 rasterised by pdftoppm (as a viewer would draw it); saved as a screenshot if named."""
    result = subprocess.run(
        ["pdftoppm", "-r", str(dpi), "-f", "1", "-l", "1", "-png", "-"], input=pdf, capture_output=True, check=True
    )
    image = Image.open(io.BytesIO(result.stdout)).convert("RGB")
    if name:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        image.save(SCREENSHOTS / f"certificate_{name}.png")
    return image


def qr_texts(image: Image.Image) -> list[str]:
    import zxingcpp

    return [result.text for result in zxingcpp.read_barcodes(image)]


def pdf_bytes(certificate: Certificate, copy: str = "original") -> bytes:
    stored = document_for(certificate, copy)
    db.session.commit()
    return storage_path(stored.storage_key).read_bytes()


def make_kind(kind: str) -> Certificate:
    if kind == "qualification":
        return make_certificate(make_enterprise_user().enterprise, "L2")
    if kind == "membership":
        from app.memberships import grant

        owner = make_enterprise_user()
        tier = db.session.scalar(select(MemberTier).where(MemberTier.name == "理事单位"))
        grant(owner.enterprise_id, tier.id, 5000)
        db.session.commit()
        return db.session.scalar(select(Certificate).where(Certificate.kind == "membership"))
    if kind == "training":
        owner = make_enterprise_user()
        certificate = certificates.issue(
            "training", enterprise_id=owner.enterprise_id, holder_name="李培训", valid_from=clock.today()
        )
        db.session.commit()
        return certificate
    owner = make_out_of_province_user(name="江苏备案安防科技有限公司")
    record = make_filing_application(owner)
    apply(record, "approve", make_user("Reviewer"))
    return db.session.scalar(select(Certificate).where(Certificate.kind == "filing"))


@pytest.mark.parametrize("kind", ["qualification", "membership", "training", "filing"])
def test_each_kind_renders_chinese_with_a_qr_code_to_its_verification_page(app, kind):
    with app.test_request_context():
        certificate = make_kind(kind)
        copies = ("original", "duplicate") if kind == "qualification" else ("original",)
        for copy in copies:
            pdf = pdf_bytes(certificate, copy)
            reader = PdfReader(io.BytesIO(pdf))
            text = reader.pages[0].extract_text()
            assert certificate.holder_name in text and certificate.number in text
            if kind == "qualification":
                assert ("正本" if copy == "original" else "副本") in text and "二级" in text
            if kind == "membership":
                assert "理事单位" in text or "会员证书" in text
            if kind == "filing":
                assert "外省企业备案证明" in text and "江苏省安防工程企业设计施工维护能力一级" in text
            fonts = {
                str(font["/BaseFont"])
                for font in reader.pages[0]["/Resources"]["/Font"].values()
                if "/BaseFont" in font.get_object()
            }
            assert fonts and all("WenQuanYiMicroHei" in name for name in fonts), fonts  # embedded, nothing else
            image = first_page(pdf, f"{kind}_{copy}")
            extrema = ImageStat.Stat(image.convert("L"))
            assert extrema.stddev[0] > 20  # not a blank page
            dark = sum(1 for value in image.convert("L").getdata() if value < 128)
            assert dark > 5000
            url = verification_url(certificate.number)
            assert qr_texts(image) == [url]
            assert unquote(urlsplit(url).path.removeprefix("/verify/")) == certificate.number


def test_cached_by_content_a_status_change_or_annual_review_gives_a_new_file(app):
    with app.test_request_context():
        certificate = make_certificate(make_enterprise_user().enterprise, "L3")
        first = document_for(certificate)
        db.session.commit()
        assert document_for(certificate).id == first.id  # same data, same file
        db.session.add(
            CertificateEvent(
                certificate_id=certificate.id,
                enterprise_id=certificate.enterprise_id,
                event="annual_review",
                from_status="valid",
                to_status="valid",
                note="年审合格 2027",
                actor_name="审核员",
            )
        )
        db.session.commit()
        reviewed = document_for(certificate)
        db.session.commit()
        assert reviewed.id != first.id
        assert "年审合格 2027" in PdfReader(storage_path(reviewed.storage_key)).pages[0].extract_text()
        certificates.change_status(certificate, "suspended", "suspended", "整改", None)
        db.session.commit()
        suspended = document_for(certificate)
        db.session.commit()
        assert suspended.id not in (first.id, reviewed.id)
        assert "暂停" in PdfReader(storage_path(suspended.storage_key)).pages[0].extract_text()
        assert db.session.scalar(select(func.count()).select_from(CertificateDocument)) == 3


def test_layout_is_configuration(app):
    from app.models import Setting

    with app.test_request_context():
        certificate = make_certificate(make_enterprise_user().enterprise, "L3")
        setting = db.session.scalar(select(Setting).where(Setting.key == "certificate_layout.qualification"))
        if setting is None:
            setting = Setting(key="certificate_layout.qualification")
            db.session.add(setting)
        setting.value = "资质证明书（新版式）\n单位：{holder}\n编号：{number}\n{unknown}"
        db.session.commit()
        text = PdfReader(io.BytesIO(pdf_bytes(certificate))).pages[0].extract_text()
        assert "资质证明书（新版式）" in text and f"单位：{certificate.holder_name}" in text and "{unknown}" in text


def login_as(client, auth, user) -> None:
    with client.session_transaction() as session:
        session.clear()
    auth.login(user.username)


def test_download_is_scoped_and_goes_through_the_file_route(app, client, auth):
    owner = make_enterprise_user()
    other = make_enterprise_user()
    certificate = make_certificate(owner.enterprise, "L3")
    login_as(client, auth, other)
    assert client.get(f"/certificates/{certificate.id}/pdf").status_code == 404
    login_as(client, auth, owner)
    response = client.get(f"/certificates/{certificate.id}/pdf?copy=duplicate")
    assert response.status_code == 302
    location = response.headers["Location"]
    assert urlsplit(location).path.startswith("/files/")
    pdf = client.get(location)
    assert pdf.status_code == 200 and pdf.data.startswith(b"%PDF")
    assert "attachment" in pdf.headers["Content-Disposition"]
    page = client.get(f"/qualification/certificates/{certificate.id}").get_data(as_text=True)
    assert f"/certificates/{certificate.id}/pdf" in page  # 下载证书 on 我的证书
    login_as(client, auth, other)
    assert client.get(location).status_code == 404  # the file route is scoped too
    login_as(client, auth, make_user("Reviewer"))
    response = client.get(f"/certificates/{certificate.id}/pdf")
    assert response.status_code == 302 and client.get(response.headers["Location"]).status_code == 200
