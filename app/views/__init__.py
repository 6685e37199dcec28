"""Views: the portal, the back office, accounts, files and regions, all registered in `register()`."""

from __future__ import annotations

from flask import current_app, g, jsonify, redirect, request, send_file, url_for
from flask_appbuilder import BaseView, IndexView, expose, has_access
from flask_babel import format_datetime
from flask_babel import lazy_gettext as _l

from .. import portal, regions
from ..models import Enterprise, StoredFile
from ..scoping import (
    current_user_or_none,
    get_scoped_or_404,
    is_association_user,
    is_enterprise_user,
)
from ..uploads import storage_path
from ..workflows import REGISTRY, load_workflows
from .accounts import AccountView, ActivationView, CaptchaView, PasswordResetView, RegisterView
from .change import ChangeRequestView
from .dashboard import BackOfficeView
from .dossier import EnterpriseDossierView
from .filing import FilingView, refuse_out_of_province
from .jobs import JobsView, MessageTemplateView
from .membership import MemberListView, MembershipView
from .messages import MessagesView
from .notification_admin import NotificationAdminView
from .qualification import PORTAL_VIEWS as QUALIFICATION_VIEWS
from .qualification import MyCertificatesView
from .qualification_admin import (
    CertificateAdminView,
    MaterialRequirementView,
    QualificationLevelView,
    StaffingRuleView,
)
from .replacement import ReplacementView
from .review import AuditLogView, MemberTierView, ReviewQueueView, SettingView, WorkflowView
from .training import TrainingView
from .training_admin import EnrollmentAdminView, StaffSearchView, TrainingBatchView
from .verify import CertificateApiView, CertificateDocumentView, VerifyView

QUALIFICATION_MENUS = (
    "QualificationNew",
    "QualificationAnnual",
    "QualificationUpgrade",
    "QualificationDowngrade",
    "QualificationRenewal",
)


class HomeView(IndexView):
    """`/`: sends each kind of user to its own home; anonymous visitors to the login page."""

    @expose("/")
    def index(self):
        user = current_user_or_none()
        if user is None:
            return redirect(self.appbuilder.get_url_for_login)
        if is_enterprise_user(user):
            return redirect(url_for("PortalView.index"))
        if is_association_user(user):
            return redirect(url_for("BackOfficeView.index"))
        return self.render_template("no_role.html")


class PortalView(BaseView):
    """Enterprise portal home: status cards (membership, certificates, applications, messages,
    staff), then the enterprise's own basic information."""

    route_base = "/portal"
    class_permission_name = "Portal"
    default_view = "index"

    @expose("/")
    @has_access
    def index(self):
        enterprise = get_scoped_or_404(Enterprise, g.user.enterprise_id)
        return self.render_template("portal/index.html", enterprise=enterprise, cards=portal.home(g.user))


class FileView(BaseView):
    """The only way out for uploaded files: login, permission and tenant scope are checked."""

    route_base = "/files"
    class_permission_name = "StoredFile"
    default_view = "download"

    @expose("/<int:file_id>")
    @has_access
    def download(self, file_id: int):
        stored = get_scoped_or_404(StoredFile, file_id)
        # ?view=1 opens a PDF in the browser's own viewer (reviewers read materials in place). Chromium
        # will not start its PDF viewer in a CSP-sandboxed document, so such a PDF is served without
        # `sandbox`: our PDFs were parsed on upload and hold no scripts or actions, the viewer runs in
        # its own process, and nothing else may load. Everything else keeps the sandbox.
        view_pdf = stored.content_type == "application/pdf" and request.args.get("view") == "1"
        response = send_file(
            storage_path(stored.storage_key),
            mimetype=stored.content_type,
            as_attachment=not (stored.content_type.startswith("image/") or view_pdf),
            download_name=stored.original_name,
            conditional=True,
            max_age=0,
        )
        response.headers["Cache-Control"] = "private, no-store"
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Content-Security-Policy"] = (
            "default-src 'none'; frame-ancestors 'self'"
            if view_pdf
            else "default-src 'none'; img-src 'self'; sandbox"
        )
        return response


class RegionView(BaseView):
    """Province/city/district data for the cascade selects (public: registration needs it)."""

    route_base = "/regions"
    default_view = "tree"

    @expose("/")
    def tree(self):
        response = jsonify(regions.as_json())
        response.cache_control.public = True
        response.cache_control.max_age = 86400
        return response


def register(appbuilder) -> None:
    """Every view and menu entry of the application, in menu order (the portal follows the manual)."""
    enterprise_only = lambda: is_enterprise_user(g.user)  # noqa: E731
    association_only = lambda: is_association_user(g.user)  # noqa: E731

    # Admin holds every permission; the menu still shows each kind of user only its own side.
    appbuilder.add_view(PortalView, "PortalHome", label=_l("Home"), icon="fa-home", menu_cond=enterprise_only)
    appbuilder.add_view(
        MembershipView,
        "MembershipApply",
        label=_l("Membership application"),
        icon="fa-id-badge",
        menu_cond=enterprise_only,
    )
    # 资质管理: 资质申请, 资质年审, 资质晋级, 资质降级, 到期换证, 我的证书 (manual chapters 资质申请 … 八).
    for view, menu_name in zip(QUALIFICATION_VIEWS, QUALIFICATION_MENUS, strict=True):
        appbuilder.add_view(
            view,
            menu_name,
            label=REGISTRY[view.kind].label,
            icon=REGISTRY[view.kind].menu_icon,
            category="QualificationPortal",
            category_label=_l("Qualification management"),
            category_icon="fa-certificate",
            menu_cond=enterprise_only,
        )
    appbuilder.add_view(
        MyCertificatesView,
        "MyCertificatesMenu",
        label=_l("My certificates"),
        icon="fa-id-card-o",
        category="QualificationPortal",
        menu_cond=enterprise_only,
    )
    appbuilder.add_view(
        TrainingView,
        "TrainingPortal",
        label=_l("Technical training"),
        icon="fa-graduation-cap",
        menu_cond=enterprise_only,
    )
    # 十、信息变更 and 十一、证书补办.
    appbuilder.add_view(
        ChangeRequestView,
        "ChangeRequestMenu",
        label=_l("Information change"),
        icon="fa-pencil-square-o",
        menu_cond=enterprise_only,
    )
    appbuilder.add_view(
        ReplacementView,
        "ReplacementMenu",
        label=_l("Certificate replacement"),
        icon="fa-clone",
        menu_cond=enterprise_only,
    )
    # 十三、外省企业备案: out-of-province enterprises only (app/roles.py).
    appbuilder.add_view(
        FilingView,
        "FilingMenu",
        label=_l("Out-of-province filing"),
        icon="fa-map-marker",
        menu_cond=enterprise_only,
    )
    appbuilder.add_view(
        BackOfficeView, "BackOfficeHome", label=_l("Dashboard"), icon="fa-dashboard", menu_cond=association_only
    )
    appbuilder.add_view(
        ReviewQueueView,
        "ReviewOverview",
        label=_l("Review overview"),
        icon="fa-tasks",
        category="Review",
        category_label=_l("Reviews"),
        category_icon="fa-check-square-o",
    )
    for workflow in load_workflows().values():
        appbuilder.add_link(
            workflow.queue_menu,
            href=f"/backoffice/review/{workflow.kind}/",
            label=workflow.queue_label or workflow.label,
            icon=workflow.menu_icon,
            category="Review",
        )
    appbuilder.add_view(
        CertificateAdminView,
        "CertificateRegister",
        label=_l("Certificate management"),
        icon="fa-certificate",
        category="CertificateAdminMenu",
        category_label=_l("Certificates"),
        category_icon="fa-certificate",
    )
    appbuilder.add_view(
        EnterpriseDossierView,
        "EnterpriseDossiers",
        label=_l("Enterprise dossiers"),
        icon="fa-building",
        category="EnterpriseAdmin",
        category_label=_l("Enterprises"),
        category_icon="fa-building",
    )
    appbuilder.add_view(
        MemberListView, "MemberListMenu", label=_l("Members"), icon="fa-id-badge", category="EnterpriseAdmin"
    )
    appbuilder.add_view(
        NotificationAdminView,
        "NotificationLogMenu",
        label=_l("Messages sent"),
        icon="fa-envelope-o",
        category="EnterpriseAdmin",
    )
    appbuilder.add_view(
        TrainingBatchView,
        "TrainingBatches",
        label=_l("Training batches"),
        icon="fa-calendar",
        category="TrainingAdmin",
        category_label=_l("Training"),
        category_icon="fa-graduation-cap",
    )
    appbuilder.add_view(
        EnrollmentAdminView,
        "Enrollments",
        label=_l("Enrolments and results"),
        icon="fa-list-ol",
        category="TrainingAdmin",
    )
    appbuilder.add_view(
        StaffSearchView, "StaffSearchMenu", label=_l("Technical staff"), icon="fa-users", category="TrainingAdmin"
    )
    appbuilder.add_view(
        MemberTierView,
        "MemberTiers",
        label=_l("Member tiers and fees"),
        icon="fa-money",
        category="Configuration",
        category_label=_l("Configuration"),
        category_icon="fa-sliders",
    )
    appbuilder.add_view(
        QualificationLevelView,
        "QualificationLevels",
        label=_l("Qualification levels"),
        icon="fa-signal",
        category="Configuration",
    )
    appbuilder.add_view(
        StaffingRuleView, "StaffingRules", label=_l("Staffing rule lines"), icon="fa-users", category="Configuration"
    )
    appbuilder.add_view(
        MaterialRequirementView,
        "MaterialRequirements",
        label=_l("Review materials"),
        icon="fa-files-o",
        category="Configuration",
    )
    appbuilder.add_view(SettingView, "Settings", label=_l("System settings"), icon="fa-cog", category="Configuration")
    appbuilder.add_view(
        WorkflowView, "Workflows", label=_l("Review workflows"), icon="fa-sitemap", category="Configuration"
    )
    appbuilder.add_view(
        AuditLogView, "AuditLogMenu", label=_l("Audit log"), icon="fa-history", category="Configuration"
    )
    appbuilder.add_view(
        MessageTemplateView,
        "MessageTemplates",
        label=_l("Message templates"),
        icon="fa-commenting-o",
        category="Configuration",
    )
    appbuilder.add_view(
        JobsView, "ScheduledJobsMenu", label=_l("Scheduled jobs"), icon="fa-clock-o", category="Configuration"
    )
    # 账户管理 (manual chapter 十二): every signed-in user.
    appbuilder.add_view(
        AccountView,
        "AccountInfo",
        href="/account/info",
        label=_l("Edit information"),
        icon="fa-id-card",
        category="AccountAdmin",
        category_label=_l("Account management"),
        category_icon="fa-user",
    )
    appbuilder.add_link(
        "AccountPassword", href="/account/password", label=_l("Change password"), icon="fa-key", category="AccountAdmin"
    )
    appbuilder.add_view_no_menu(MessagesView)
    appbuilder.add_view_no_menu(RegisterView)
    appbuilder.add_view_no_menu(ActivationView)
    appbuilder.add_view_no_menu(PasswordResetView)
    appbuilder.add_view_no_menu(FileView)
    appbuilder.add_view_no_menu(RegionView)
    appbuilder.add_view_no_menu(CaptchaView)
    appbuilder.add_view_no_menu(CertificateDocumentView)
    appbuilder.add_view_no_menu(VerifyView)
    appbuilder.add_view_no_menu(CertificateApiView)
    current_app.before_request(refuse_out_of_province)
    current_app.jinja_env.globals["site_footer_lines"] = current_app.config.get("SITE_FOOTER_LINES", [])
    from ..workflows import state_colour, state_label

    current_app.jinja_env.globals.update(state_label=state_label, state_colour=state_colour)
    from ..certificates import EVENTS, KINDS

    current_app.jinja_env.globals.update(certificate_kinds=KINDS, certificate_events=EVENTS)
    from ..audit import action_label

    current_app.jinja_env.filters["audit_action"] = action_label
    current_app.jinja_env.filters["datetime_local"] = lambda value: (
        format_datetime(value, "yyyy-MM-dd HH:mm") if value else ""
    )
    current_app.jinja_env.filters["reject_page"] = lambda args: {k: v for k, v in args.items() if k != "page"}

    @current_app.context_processor
    def portal_globals():
        from ..notify import unread_count

        user = getattr(g, "user", None)
        unread = None
        if user is not None and getattr(user, "is_authenticated", False) and is_enterprise_user(user):
            unread = unread_count(user.id)
        return {"unread_messages": unread}
