"""Roles as code: each role's permission set, and an idempotent sync into FAB's tables."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask_appbuilder import AppBuilder

# A role is declared as grants on views — `read(view)` or `write(view)` by class_permission_name —
# and on menu items (`menu(name)`); the methods behind each grant are found on the registered view
# when `flask roles sync` runs, so a new route on a view needs no edit here. Review permissions,
# queue links and their menus come from the workflow registry.

READ_METHODS = frozenset(
    {"list", "show", "index", "overview", "queue", "detail", "search", "enrollments", "csv", "download"}
)


@dataclass(frozen=True)
class Grant:
    view: str
    access: str  # read | write | menu | review


def read(view: str) -> Grant:
    return Grant(view, "read")


def write(view: str) -> Grant:
    return Grant(view, "write")


def menu(*names: str) -> list[Grant]:
    return [Grant(name, "menu") for name in names]


# Every review queue and every review action of every registered workflow.
REVIEW_ALL = Grant("*", "review")

# 账户管理: every signed-in user edits its own account.
ACCOUNT = [write("Account"), *menu("AccountAdmin", "AccountInfo", "AccountPassword")]

# Every enterprise: home, files, messages, 技术培训, certificate downloads and 账户管理.
PORTAL_COMMON = ACCOUNT + [
    write("Portal"),
    read("StoredFile"),
    read("Messages"),
    write("Training"),
    read("CertificateDocument"),
    *menu("PortalHome", "TrainingPortal"),
]

# Enterprises registered in the home province: 入会申请 and 资质管理 besides.
PORTAL = PORTAL_COMMON + [
    write("Membership"),
    write("Qualification"),
    read("MyCertificates"),
    write("ChangeRequest"),
    write("Replacement"),
    *menu(
        "MembershipApply",
        "QualificationPortal",
        "QualificationNew",
        "QualificationAnnual",
        "QualificationUpgrade",
        "QualificationDowngrade",
        "QualificationRenewal",
        "MyCertificatesMenu",
        "ChangeRequestMenu",
        "ReplacementMenu",
    ),
]

# Enterprises registered elsewhere (外省企业): 外省企业备案 instead of membership and qualification
# (those pages refuse them on the server too: app/views/filing.py); 信息变更 (the 登记表 takes the
# profile, and says to correct it there) and 证书补办 (of the 备案证明) as for every enterprise.
OUT_OF_PROVINCE_PORTAL = PORTAL_COMMON + [
    write("Filing"),
    write("ChangeRequest"),
    write("Replacement"),
    *menu("FilingMenu", "ChangeRequestMenu", "ReplacementMenu"),
]

TRAINING_READ = [
    read("TrainingBatchAdmin"),
    read("EnrollmentAdmin"),
    read("StaffSearch"),
    *menu("TrainingBatches", "Enrollments", "StaffSearchMenu", "TrainingAdmin"),
]
TRAINING_RESULTS = [write("EnrollmentAdmin")]
TRAINING_MANAGE = [write("TrainingBatchAdmin"), *TRAINING_RESULTS]

BACK_OFFICE_READ = (
    ACCOUNT
    + TRAINING_READ
    + [
        read("BackOffice"),
        read("EnterpriseDossier"),
        read("StoredFile"),
        read("CertificateAdmin"),
        read("CertificateDocument"),
        read("MemberList"),
        read("NotificationLog"),
        *menu("BackOfficeHome", "EnterpriseDossiers", "EnterpriseAdmin", "CertificateRegister", "CertificateAdminMenu"),
        *menu("MemberListMenu", "NotificationLogMenu"),
    ]
)

REVIEW = [write("ReviewQueue"), REVIEW_ALL, *menu("Review", "ReviewOverview")]

# 定时任务: staff see the jobs and their runs; AssociationAdmin runs one now (write, in CONFIGURATION).
JOBS_READ = [read("ScheduledJobs"), *menu("ScheduledJobsMenu", "Configuration")]

CONFIGURATION = [
    read("AuditLog"),
    write("MemberTierConfig"),
    write("SettingConfig"),
    read("WorkflowDiagram"),
    write("QualificationLevelConfig"),
    write("StaffingRuleConfig"),
    write("MaterialConfig"),
    write("CertificateAdmin"),
    write("ScheduledJobs"),
    write("MessageTemplateConfig"),
    *menu("MessageTemplates"),
    *menu(
        "AuditLogMenu",
        "MemberTiers",
        "QualificationLevels",
        "StaffingRules",
        "MaterialRequirements",
        "Settings",
        "Workflows",
        "Configuration",
    ),
]

ROLE_GRANTS: dict[str, list[Grant]] = {
    "AssociationAdmin": BACK_OFFICE_READ + REVIEW + CONFIGURATION + TRAINING_MANAGE + JOBS_READ,
    "Reviewer": BACK_OFFICE_READ + REVIEW + TRAINING_RESULTS + JOBS_READ,
    "Enterprise": PORTAL,
    "OutOfProvinceEnterprise": OUT_OF_PROVINCE_PORTAL,
    "Public": [],
}
ADMIN_ROLE = "Admin"  # holds every permission that exists

# Views an enterprise role may ever hold a permission on (deny by default elsewhere).
PORTAL_VIEW_NAMES = frozenset(
    {
        "Portal",
        "PortalHome",
        "StoredFile",
        "Account",
        "AccountAdmin",
        "AccountInfo",
        "AccountPassword",
        "Messages",
        "Membership",
        "MembershipApply",
        "Qualification",
        "QualificationPortal",
        "QualificationNew",
        "QualificationAnnual",
        "QualificationUpgrade",
        "QualificationDowngrade",
        "QualificationRenewal",
        "MyCertificates",
        "MyCertificatesMenu",
        "Training",
        "TrainingPortal",
        "Filing",
        "FilingMenu",
        "CertificateDocument",
        "ChangeRequest",
        "ChangeRequestMenu",
        "Replacement",
        "ReplacementMenu",
    }
)


def _view_permissions(appbuilder: AppBuilder) -> dict[str, set[str]]:
    """class_permission_name -> the `can_<method>` permissions its registered views define."""
    result: dict[str, set[str]] = {}
    for view in appbuilder.baseviews:
        name = getattr(view, "class_permission_name", None)
        if name and view.base_permissions:
            result.setdefault(name, set()).update(view.base_permissions)
    return result


def role_permissions(appbuilder: AppBuilder) -> dict[str, list[tuple[str, str]]]:
    """Each declared role's (permission, view or menu) pairs, resolved against the registered views."""
    from .workflows import REGISTRY

    views = _view_permissions(appbuilder)
    result: dict[str, list[tuple[str, str]]] = {}
    for role, grants in ROLE_GRANTS.items():
        pairs: list[tuple[str, str]] = []
        for grant in grants:
            if grant.access == "menu":
                pairs.append(("menu_access", grant.view))
            elif grant.access == "review":
                for workflow in REGISTRY.values():
                    pairs.extend((permission, workflow.permission_view) for permission in workflow.permissions)
                    pairs.append(("menu_access", workflow.queue_menu))
            else:
                if grant.view not in views:
                    raise UnknownPermission(f"{role}: no registered view {grant.view}")
                for permission in sorted(views[grant.view]):
                    if grant.access == "write" or permission.removeprefix("can_") in READ_METHODS:
                        pairs.append((permission, grant.view))
        result[role] = list(dict.fromkeys(pairs))
    return result


class UnknownPermission(RuntimeError):
    pass


def sync_roles(appbuilder: AppBuilder) -> dict[str, int]:
    """Create every view's permissions, then set each declared role's permissions exactly.

    Safe to run any number of times; a declared permission that no view defines is an error.
    """
    sm = appbuilder.sm
    session = sm.session
    # FAB grants each new permission to the admin role as it creates it, so that role comes first.
    admin = sm.find_role(ADMIN_ROLE) or sm.add_role(ADMIN_ROLE)
    appbuilder.add_permissions(update_perms=True)
    # Review actions are permissions of the workflows, not of a view: create them from the tables.
    from .workflows import REGISTRY

    for workflow in REGISTRY.values():
        for permission in workflow.permissions:
            sm.add_permission_view_menu(permission, workflow.permission_view)
    result: dict[str, int] = {}
    for role_name, declared in role_permissions(appbuilder).items():
        role = sm.find_role(role_name) or sm.add_role(role_name)
        wanted: list[Any] = []
        for permission_name, view_name in declared:
            pv = sm.find_permission_view_menu(permission_name, view_name)
            if pv is None:
                raise UnknownPermission(f"{role_name}: no permission {permission_name} on {view_name}")
            wanted.append(pv)
        role.permissions = wanted
        result[role_name] = len(wanted)
    admin.permissions = session.query(sm.permissionview_model).all()
    result[ADMIN_ROLE] = len(admin.permissions)
    session.commit()
    return result
