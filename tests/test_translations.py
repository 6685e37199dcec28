"""Chinese catalogue: complete (no untranslated or fuzzy entry) and in step with the source."""

import subprocess
import sys
from pathlib import Path

import pytest
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parent.parent
PO = ROOT / "app" / "translations" / "zh" / "LC_MESSAGES" / "messages.po"


def catalogue():
    with PO.open("rb") as handle:
        return read_po(handle, locale="zh")


def test_zh_catalogue_has_no_untranslated_or_fuzzy_entry():
    problems = [m.id for m in catalogue() if m.id and (m.fuzzy or not m.string)]
    assert problems == []


def test_shared_pocheck_agrees():
    tool = ROOT.parent / "shared" / "tools" / "pocheck.py"
    if not tool.exists():
        return  # the shared tool sits beside checkouts made by the team; the test above is the rule
    result = subprocess.run([sys.executable, str(tool), str(PO)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_message_in_the_source_is_in_the_catalogue(tmp_path):
    pot = tmp_path / "messages.pot"
    subprocess.run(
        [
            str(Path(sys.executable).parent / "pybabel"),
            "extract",
            "-F",
            "babel.cfg",
            "-k",
            "_l",
            "-k",
            "lazy_gettext",
            "-o",
            str(pot),
            ".",
        ],
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    with pot.open("rb") as handle:
        source_ids = {m.id for m in read_po(handle) if m.id}
    catalogue_ids = {m.id for m in catalogue() if m.id}
    missing = source_ids - catalogue_ids
    assert not missing, f"run `make extract-messages` and translate: {sorted(missing)}"


def test_catalogue_overrides_fab(app, client):
    # FAB's own catalogue leaves "Add" untranslated; ours supplies it.
    from flask_babel import gettext

    with app.test_request_context():
        from flask import session

        session["locale"] = "zh"
        assert gettext("Add") == "新增"
        assert gettext("Sign In") == "登录"


# --- rendered-page sweep: no English left on any page a user sees ---------------------------------

# Words that stay in Latin letters in a Chinese UI: file types, units, standards, codes.
ALLOWED_WORDS = {
    "PDF",
    "CSV",
    "JPG",
    "JPEG",
    "PNG",
    "MB",
    "KB",
    "QQ",
    "ISO",
    "xlsx",
    "xls",
    "ods",
    "English",
    "IP",
    "ID",
}
SWEEP_ROLES = ("anonymous", "Enterprise", "OutOfProvinceEnterprise", "Reviewer", "AssociationAdmin", "Admin")
VISIBLE_ATTRIBUTES = {"placeholder", "title", "aria-label", "alt"}
# Routes whose answer is not a page (files, scripts' data, redirects to outside the app).
NOT_PAGES = ("/static/", "/files/", "/captcha/", "/regions/", "/lang/", "/back", "/csv", "template.xlsx")


def visible_text(html: str) -> list[str]:
    """The text a user can read: element text and the attributes a browser shows, without scripts."""
    from html.parser import HTMLParser

    chunks: list[str] = []

    class Reader(HTMLParser):
        hidden = 0

        def handle_starttag(self, tag, attrs):
            if tag in ("script", "style", "template"):
                self.hidden += 1
            values = dict(attrs)
            for name in VISIBLE_ATTRIBUTES:
                if values.get(name):
                    chunks.append(values[name])
            if tag == "input" and values.get("type") in ("submit", "button") and values.get("value"):
                chunks.append(values["value"])

        def handle_endtag(self, tag):
            if tag in ("script", "style", "template") and self.hidden:
                self.hidden -= 1

        def handle_data(self, data):
            if not self.hidden and data.strip():
                chunks.append(data.strip())

    Reader(convert_charrefs=True).feed(html)
    return chunks


def english_words(chunks: list[str], typed: set[str]) -> list[str]:
    import re

    found = []
    for chunk in chunks:
        chunk = re.sub(r"[\w.+-]+@[\w-]+(\.[\w-]+)+", " ", chunk)  # e-mail addresses
        for word in re.findall(r"[A-Za-z][A-Za-z0-9_.'-]*", chunk):
            word = word.strip(".-'")
            if len(word) < 2 or word in ALLOWED_WORDS or word in typed or re.search(r"\d", word):
                continue
            found.append(f"{word!r} in {chunk[:80]!r}")
    return found


def sweep_data() -> dict:
    """One of everything a page can show: applications in several states, staff, batches,
    enrolments, certificates, audit rows, messages."""
    from app.memberships import grant
    from app.staff import sign_up
    from app.workflows import apply
    from factories import (
        make_batch,
        make_certificate,
        make_enterprise_user,
        make_membership_application,
        make_qualification_application,
        make_staff,
        make_user,
        person,
        ready_membership,
    )

    owner = make_enterprise_user("Enterprise")
    outsider = make_enterprise_user("OutOfProvinceEnterprise", region_code="320102")
    reviewer = make_user("Reviewer")
    submitted = make_membership_application(owner.enterprise, status="submitted")
    apply(submitted, "receive", reviewer)
    approved = ready_membership(outsider, "approved")
    grant(outsider.enterprise_id, approved.tier_id, 1000)
    batch = make_batch()
    sign_up(batch.id, owner.enterprise_id, [(2, person(41))])
    staff = make_staff(owner.enterprise, 42)
    certificate = make_certificate(owner.enterprise)
    qualification = make_qualification_application(owner, "qualification_annual", "submitted", certificate=certificate)
    db_commit()
    return {
        "owner": owner,
        "outsider": outsider,
        "reviewer": reviewer,
        "submitted": submitted,
        "approved": approved,
        "batch": batch,
        "staff": staff,
        "certificate": certificate,
        "qualification": qualification,
    }


def db_commit() -> None:
    from app import db

    db.session.commit()


def sample_id_urls(data: dict, role: str) -> list[str]:
    from sqlalchemy import select

    from app import db
    from app.models import AuditLog, Enterprise, MemberTier

    first = lambda model: db.session.scalar(select(model.id).order_by(model.id))  # noqa: E731
    if role in ("Enterprise",):
        return [
            f"/membership/{data['submitted'].id}",
            f"/training/staff/{data['staff'].id}",
            f"/training/staff/{data['staff'].id}/edit",
            f"/training/batch/{data['batch'].id}",
            f"/qualification/annual/{data['qualification'].id}",
            f"/qualification/certificates/{data['certificate'].id}",
        ]
    if role in ("Reviewer", "AssociationAdmin", "Admin"):
        return [
            f"/backoffice/review/membership/{data['submitted'].id}",
            f"/backoffice/review/membership/{data['approved'].id}",
            f"/backoffice/review/qualification_annual/{data['qualification'].id}",
            f"/backoffice/staff/{data['staff'].id}",
            f"/backoffice/training/{data['batch'].id}/",
            f"/backoffice/training/batches/show/{data['batch'].id}",
            f"/backoffice/training/batches/edit/{data['batch'].id}",
            f"/backoffice/enterprises/show/{data['owner'].enterprise_id}",
            f"/backoffice/certificates/{data['certificate'].id}",
            f"/backoffice/audit/show/{first(AuditLog)}",
            f"/backoffice/member-tiers/show/{first(MemberTier)}",
            f"/backoffice/member-tiers/edit/{first(MemberTier)}",
            "/backoffice/settings/show/membership.notice_text",
            "/backoffice/settings/edit/membership.notice_text",
            f"/users/show/{data['reviewer'].id}",
            f"/users/edit/{data['reviewer'].id}",
            f"/roles/show/{first_role_id()}",
            f"/roles/edit/{first_role_id()}",
        ] + ([f"/backoffice/enterprises/show/{first(Enterprise)}"] if role == "Admin" else [])
    return []


def first_role_id() -> int:
    from app import db

    return db.session.execute(db.text("SELECT id FROM ab_role WHERE name = 'AssociationAdmin'")).scalar()


@pytest.mark.parametrize("role", SWEEP_ROLES)
def test_no_english_on_any_page(app, client, auth, role):
    from factories import make_user

    data = sweep_data()
    typed = {"test", "association", "example", "user"}  # parts of the accounts the factories make
    if role == "Enterprise":
        user = data["owner"]
    elif role == "OutOfProvinceEnterprise":
        user = data["outsider"]
    elif role != "anonymous":
        user = make_user(role)
    if role != "anonymous":
        auth.login(user.username)
        typed |= {user.username}
    urls = []
    for rule in app.url_map.iter_rules():
        if "GET" not in rule.methods or rule.arguments or rule.rule.startswith(NOT_PAGES):
            continue
        if any(part in rule.rule for part in NOT_PAGES):
            continue
        urls.append(rule.rule)
    urls += sample_id_urls(data, role)
    problems = []
    for url in sorted(set(urls)):
        response = client.get(url, follow_redirects=True)
        if response.status_code != 200 or "text/html" not in response.content_type:
            continue
        found = english_words(visible_text(response.get_data(as_text=True)), typed)
        problems += [f"{url}: {item}" for item in found]
    assert not problems, "\n".join(sorted(set(problems)))


# --- the places the sweep found, each pinned ---------------------------------------------------------


def test_fab_confirmation_dialog_and_date_picker_are_chinese(app, client, auth):
    from factories import make_user

    auth.login(make_user("AssociationAdmin").username)
    page = client.get("/backoffice/training/batches/add").get_data(as_text=True)
    dialog = page[page.index('id="modal-confirm"') :]
    assert ">取消</button>" in dialog and ">确定</a>" in dialog and "Cancel" not in page
    script = "/static/vendor/bootstrap-datepicker-1.10.0/bootstrap-datepicker.zh-CN.js"
    assert f'src="{script}"' in page
    # after FAB's datepicker, before ab.js starts the pickers on DOM ready
    assert page.index("bootstrap-datepicker.min.js") < page.index(script)
    locale = client.get(script).get_data(as_text=True)
    assert "'zh-CN'" in locale and "一月" in locale and "defaults.language = 'zh-CN'" in locale


def test_fab_show_pages_leave_nothing_blank_and_say_yes_or_no(app, client, auth):
    from app.models import MemberTier
    from factories import make_enterprise, make_user

    enterprise = make_enterprise(legal_person=None)
    tier = db_first(MemberTier)
    auth.login(make_user("AssociationAdmin").username)
    tier_page = client.get(f"/backoffice/member-tiers/show/{tier.id}").get_data(as_text=True)
    assert "True" not in tier_page and ">是<" in tier_page.replace("\n", "").replace(" ", "")
    dossier = client.get(f"/backoffice/enterprises/show/{enterprise.id}").get_data(as_text=True)
    assert "None" not in dossier


def db_first(model):
    from sqlalchemy import select

    from app import db

    return db.session.scalar(select(model).order_by(model.id))


def test_audit_log_names_objects_and_shows_field_changes(app, client, auth):
    from sqlalchemy import select

    from app import db
    from app.models import AuditLog
    from app.workflows import apply
    from factories import make_enterprise_user, make_membership_application, make_user

    owner = make_enterprise_user()
    record = make_membership_application(owner.enterprise, status="submitted")
    apply(record, "receive", make_user("Reviewer"))
    entry = db.session.scalar(select(AuditLog).where(AuditLog.object_type == "MembershipApplication"))
    auth.login(make_user("AssociationAdmin").username)
    listing = client.get("/backoffice/audit/list/").get_data(as_text=True)
    assert "入会申请" in listing and "MembershipApplication" not in listing
    page = client.get(f"/backoffice/audit/show/{entry.id}").get_data(as_text=True)
    assert '{"status"' not in page and "submitted" not in page
    row = "".join(page[page.index("audit-changes") :].split())
    assert '<th>状态</th><td>已提交</td><tdclass="audit-arrow">→</td><td>已接收</td>' in row
    assert '<th>操作</th><td></td><tdclass="audit-arrow">→</td><td>接收</td>' in row


def test_staff_history_reads_field_by_field_for_the_enterprise(app, client, auth):
    from conftest import csrf_token
    from factories import make_enterprise_user, make_staff, person

    owner = make_enterprise_user()
    staff = make_staff(owner.enterprise, 44)
    staff_id = staff.id
    auth.login(owner.username)
    form = {**person(44, education="大专"), "csrf_token": csrf_token(client, f"/training/staff/{staff_id}/edit")}
    client.post(f"/training/staff/{staff_id}/edit", data=form)
    page = client.get(f"/training/staff/{staff_id}").get_data(as_text=True)
    history = page[page.index("history-values") :]
    assert "学历：本科 → 大专" in history
    assert '"gender"' not in page and "male" not in history


def test_settings_show_names_and_help_not_keys(app, client, auth):
    from factories import make_user

    auth.login(make_user("AssociationAdmin").username)
    listing = client.get("/backoffice/settings/list/").get_data(as_text=True)
    shown = " ".join(visible_text(listing))
    assert "membership.notice_text" not in shown and "入会须知正文" in shown
    assert "入会须知至少打开多长时间后才能勾选" in listing
    edit = client.get("/backoffice/settings/edit/membership.notice_seconds").get_data(as_text=True)
    assert "入会须知最短阅读时间（秒）" in edit and "服务器同样核对" in edit


def test_workflow_page_shows_no_permission_names(app, client, auth):
    from factories import make_user

    auth.login(make_user("AssociationAdmin").username)
    page = client.get("/backoffice/workflows/").get_data(as_text=True)
    assert "can_receive" not in page and "Mermaid" not in page.replace("mermaid", "")


def test_users_and_roles_in_chinese_for_admin(app, client, auth):
    from factories import make_user

    reviewer = make_user("Reviewer")
    auth.login(make_user("Admin").username)
    roles = client.get("/roles/list/").get_data(as_text=True)
    assert "协会管理员" in roles and "入会申请审核：接收" in roles and "can receive" not in roles
    users = client.get("/users/list/").get_data(as_text=True)
    assert "协会审核员" in users
    edit = client.get(f"/users/edit/{reviewer.id}").get_data(as_text=True)
    assert ">协会审核员</option>" in edit.replace('selected="selected" ', "").replace(" selected", "")
