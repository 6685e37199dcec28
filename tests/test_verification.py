"""Public certificate verification (issue §2): page and JSON, nothing private, statuses said plainly,
unknown numbers answered alike, rate limited."""

from __future__ import annotations

import datetime as dt
import re
from urllib.parse import quote

from app import certificates, clock, db
from app.models import CertificateEvent
from factories import make_certificate, make_enterprise_user

FIELDS = {
    "number",
    "kind",
    "kind_label",
    "holder",
    "level",
    "status",
    "status_label",
    "valid_from",
    "valid_until",
    "issued_on",
    "last_annual_review",
    "void_copies",  # which copies a 证书补办 replaced (copy and serial only)
    "issued_by",
}


def url(number: str, api: bool = False) -> str:
    return ("/api/v1/certificates/" if api else "/verify/") + quote(number, safe="")


def test_page_and_json_without_login(app, client):
    owner = make_enterprise_user(name="核验安防工程有限公司", legal_person="法人秘密")
    certificate = make_certificate(owner.enterprise, "L2")
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
    page = client.get(url(certificate.number))
    text = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "证书核验" in text and "核验安防工程有限公司" in text and "本证书有效" in text and "二级" in text
    assert "年审合格 2027" in text
    for private in (owner.enterprise.mobile, owner.enterprise.credit_code, "法人秘密", owner.username):
        assert private not in text
    data = client.get(url(certificate.number, api=True)).get_json()
    assert data["found"] is True and set(data["certificate"]) == FIELDS
    assert data["certificate"]["holder"] == "核验安防工程有限公司"
    assert data["certificate"]["status"] == "valid" and data["certificate"]["last_annual_review"] == "年审合格 2027"
    assert data["certificate"]["valid_until"] == certificate.valid_until.isoformat()


def test_every_status_is_said_plainly(app, client):
    owner = make_enterprise_user()
    expected = {"suspended": "暂停", "revoked": "撤销", "superseded": "换发", "void": "作废"}
    for status in expected:
        certificate = make_certificate(owner.enterprise, "L3")
        certificates.change_status(certificate, status, status, "原因", None)
        db.session.commit()
        text = client.get(url(certificate.number)).get_data(as_text=True)
        label = str(certificates.STATUSES[status])
        assert "本证书不在有效状态" in text and label in text, status
        assert client.get(url(certificate.number, api=True)).get_json()["certificate"]["status"] == status
    old = make_certificate(owner.enterprise, "L3", valid_from=clock.today() - dt.timedelta(days=4000))
    text = client.get(url(old.number)).get_data(as_text=True)
    assert "本证书不在有效状态" in text and str(certificates.STATUSES["expired"]) in text


def test_unknown_numbers_answer_alike(app, client):
    certificate = make_certificate(make_enterprise_user().enterprise, "L3")
    near = certificate.number[:-2]  # a prefix of a real number
    far = "完全不存在的编号"
    answers = [client.get(url(number)) for number in (near, far, certificate.number + "0")]
    assert {answer.status_code for answer in answers} == {404}
    # the same page (less the per-response CSP nonce and CSRF token)
    bodies = {re.sub(r'(nonce|value|content)="[^"]*"', "", a.get_data(as_text=True)) for a in answers}
    assert len(bodies) == 1
    api = [client.get(url(number, api=True)) for number in (near, far)]
    assert {a.status_code for a in api} == {404} and api[0].get_json() == api[1].get_json() == {
        "found": False,
        "message": "not found",
    }


def test_rate_limited(app, client):
    app.config["VERIFY_RATE_LIMIT"] = "5 per minute"
    try:
        statuses = [client.get(url("皖安协资[2026]第9999号")).status_code for _ in range(7)]
    finally:
        app.config["VERIFY_RATE_LIMIT"] = "60 per minute"
    assert statuses[:5] == [404] * 5 and statuses[-1] == 429
