"""How values look on FAB's list and show pages: blank for nothing, 是/否, roles and permissions in Chinese."""

from __future__ import annotations

from typing import Any

from flask import current_app
from flask_babel import get_locale, gettext
from flask_babel import lazy_gettext as _l
from markupsafe import Markup

ROLE_LABELS = {
    "Admin": _l("System administrator"),
    "AssociationAdmin": _l("Association administrator"),
    "Reviewer": _l("Association reviewer"),
    "Enterprise": _l("Enterprise in the province"),
    "OutOfProvinceEnterprise": _l("Enterprise from another province"),
    "Public": _l("Not signed in"),
}

# Permission names (FAB's `can_<method>` and ours) as the action they allow.
PERMISSION_LABELS = {
    "can_act": _l("act"),
    "can_add": _l("add"),
    "can_add_certificate": _l("add certificate"),
    "can_add_project": _l("add project"),
    "can_apply": _l("apply"),
    "can_archive_staff": _l("archive staff"),
    "can_basic": _l("basic information"),
    "can_batch_notice": _l("batch notice"),
    "can_batch_template": _l("download sign-up sheet"),
    "can_batch_upload": _l("upload sign-up sheet"),
    "can_bulk": _l("bulk actions"),
    "can_code": _l("get verification code"),
    "can_csv": _l("export CSV"),
    "can_delete": _l("delete"),
    "can_delete_staff": _l("delete staff"),
    "can_delivery": _l("certificate delivery"),
    "can_detail": _l("view details"),
    "can_download": _l("download"),
    "can_edit": _l("edit"),
    "can_edit_staff": _l("edit staff"),
    "can_enrollments": _l("view enrolments"),
    "can_index": _l("open"),
    "can_info": _l("edit account information"),
    "can_list": _l("view list"),
    "can_materials": _l("review materials"),
    "can_new_staff": _l("add staff"),
    "can_notice": _l("read notice"),
    "can_overview": _l("overview"),
    "can_password": _l("change password"),
    "can_pay": _l("pay"),
    "can_pick": _l("pick staff"),
    "can_proof": _l("upload proof"),
    "can_queue": _l("queue"),
    "can_remove": _l("remove"),
    "can_remove_project": _l("remove project"),
    "can_review": _l("review"),
    "can_run": _l("run now"),
    "can_search": _l("search"),
    "can_show": _l("view details"),
    "can_signup_one": _l("sign up one person"),
    "can_signup_selected": _l("sign up the ticked people"),
    "can_staff": _l("technical staff"),
    "can_staff_detail": _l("staff details"),
    "can_this_form_get": _l("open form"),
    "can_this_form_post": _l("submit form"),
    "can_userinfo": _l("own user information"),
    "copyrole": _l("copy role"),
    "menu_access": _l("menu"),
    "resetmypassword": _l("reset own password"),
    "resetpasswords": _l("reset passwords"),
    "userinfoedit": _l("edit own user information"),
}

# Views that are no menu item of their own (menu items are named by their menu label).
VIEW_LABELS = {
    "Account": _l("Account"),
    "ActivationView": _l("Legacy account activation"),
    "AuditLog": _l("Audit log"),
    "BackOffice": _l("Workbench"),
    "CaptchaView": _l("Picture code"),
    "CertificateAdmin": _l("Certificate management"),
    "CertificateApiView": _l("Certificate verification interface"),
    "CertificateDocument": _l("Certificate documents"),
    "ChangeRequest": _l("Information change"),
    "EnrollmentAdmin": _l("Enrolments and results"),
    "EnterpriseDossier": _l("Enterprise dossiers"),
    "Filing": _l("Out-of-province filing"),
    "HomeView": _l("Home"),
    "LocaleView": _l("Language"),
    "MaterialConfig": _l("Review materials"),
    "MemberList": _l("Members"),
    "MemberTierConfig": _l("Member tiers and fees"),
    "MessageTemplateConfig": _l("Message templates"),
    "Membership": _l("Membership application"),
    "Messages": _l("Messages"),
    "MyCertificates": _l("My certificates"),
    "NoRoutesSecurityApi": _l("Security interface"),
    "NotificationLog": _l("Messages sent"),
    "PasswordResetView": _l("Forgot password"),
    "PlatformAuthDBView": _l("Sign in"),
    "PlatformGroupModelView": _l("User groups"),
    "PlatformRoleModelView": _l("Roles"),
    "PlatformUserModelView": _l("Users"),
    "Portal": _l("Enterprise portal"),
    "Qualification": _l("Qualification"),
    "QualificationLevelConfig": _l("Qualification levels"),
    "RegionView": _l("Regions"),
    "RegisterView": _l("Registration"),
    "Replacement": _l("Certificate replacement"),
    "ResetMyPasswordView": _l("Reset own password"),
    "ResetPasswordView": _l("Reset password"),
    "ReviewQueue": _l("Review queues"),
    "ScheduledJobs": _l("Scheduled jobs"),
    "SettingConfig": _l("System parameters"),
    "StaffSearch": _l("Technical staff"),
    "StaffingRuleConfig": _l("Staffing rules"),
    "StoredFile": _l("Files"),
    "Training": _l("Technical training"),
    "TrainingBatchAdmin": _l("Training batches"),
    "UserInfoEditView": _l("Own user information"),
    "UtilView": _l("Back"),
    "VerifyView": _l("Certificate verification"),
    "WorkflowDiagram": _l("Review workflows"),
}


def role_label(name: str) -> str:
    return str(ROLE_LABELS.get(name, name))


def _menu_labels() -> dict[str, str]:
    labels: dict[str, str] = {}

    def walk(items) -> None:
        for item in items:
            if item.name and item.label:
                labels[item.name] = str(item.label)
            walk(item.childs or [])

    walk(current_app.appbuilder.menu.menu)
    return labels


def _review_views() -> dict[str, Any]:
    """Each workflow's permission view -> the workflow (its label and its transitions' labels)."""
    from .workflows import REGISTRY

    return {workflow.permission_view: workflow for workflow in REGISTRY.values()}


def view_label(name: str) -> str:
    if name in VIEW_LABELS:
        return str(VIEW_LABELS[name])
    workflow = _review_views().get(name)
    if workflow is not None:
        return gettext("%(type)s review", type=str(workflow.label))
    return _menu_labels().get(name, name)


def permission_label(permission: str, view: str = "") -> str:
    workflow = _review_views().get(view)
    if workflow is not None and permission.startswith("can_"):
        for transition in workflow.transitions:
            if transition.permission == permission:
                return str(transition.label)
    return str(PERMISSION_LABELS.get(permission, permission))


def _permission_view_labels() -> dict[tuple[str, str], str]:
    """The labels of permissions on views in the request's language, kept with the application: the role
    list shows a few hundred per page, and menus, workflows and catalogues do not change while it runs."""
    return current_app.extensions.setdefault("permission_view_labels", {}).setdefault(str(get_locale()), {})


def permission_view_label(permission_view: Any, labels: dict[tuple[str, str], str] | None = None) -> str:
    """A permission on a view in words, e.g. “编辑 · 会员等级”."""
    return pair_label(permission_view.permission.name, permission_view.view_menu.name, labels)


def pair_label(permission: str, view: str, labels: dict[tuple[str, str], str] | None = None) -> str:
    labels = _permission_view_labels() if labels is None else labels
    label = labels.get((permission, view))
    if label is None:
        label = labels[(permission, view)] = gettext(
            "%(permission)s · %(view)s", permission=permission_label(permission, view), view=view_label(view)
        )
    return label


def pairs_label(pairs) -> str:
    """A role's permissions, (permission, view) name pairs, in words, one after the other."""
    labels = _permission_view_labels()
    return "、".join(pair_label(permission, view, labels) for permission, view in pairs)


def object_label(value: Any) -> str:
    """One related object as a user reads it (a role, a permission on a view, anything else)."""
    kind = type(value).__name__
    if kind == "Role":
        return role_label(value.name)
    if kind == "PermissionView":
        return permission_view_label(value)
    return str(value)


def display(value: Any) -> Any:
    """A cell of FAB's list and show widgets: None blank, booleans 是/否, related objects labelled."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return gettext("Yes") if value else gettext("No")
    if isinstance(value, Markup):
        return value
    if isinstance(value, (list, tuple)) or type(value).__name__ == "InstrumentedList":
        if value and type(value[0]).__name__ == "PermissionView":  # a role's permissions: a few hundred
            labels = _permission_view_labels()
            return "、".join(permission_view_label(item, labels) for item in value)
        return "、".join(str(display(item)) for item in value)
    if type(value).__name__ in ("Role", "PermissionView"):
        return object_label(value)
    return value


class ChineseRelatedLabelsMixin:
    """Form pickers of roles and permissions show them in Chinese (FAB shows the raw names)."""

    related_label_fields = ("roles", "permissions")

    def _init_forms(self) -> None:
        super()._init_forms()
        for form in (self.add_form, self.edit_form):
            for name in self.related_label_fields:
                unbound = getattr(form, name, None)
                if unbound is not None and hasattr(unbound, "kwargs"):
                    unbound.kwargs["get_label"] = object_label


def install(app) -> None:
    from .audit import actor_label, changes

    app.jinja_env.filters["display"] = display
    app.jinja_env.filters["audit_changes"] = changes
    app.jinja_env.filters["audit_actor"] = actor_label
    app.jinja_env.globals["role_label"] = role_label
