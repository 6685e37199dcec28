"""Roles as code: each role's permission set, and an idempotent sync into FAB's tables."""

from __future__ import annotations

from typing import Any

from flask_appbuilder import AppBuilder

# (permission, view or menu name). Names follow FAB: `can_<method>` on a view's
# class_permission_name, `menu_access` on a menu item or category name.
# 账户管理: every signed-in user edits its own account.
ACCOUNT = [
    ("can_info", "Account"),
    ("can_code", "Account"),
    ("can_password", "Account"),
    ("menu_access", "AccountAdmin"),
    ("menu_access", "AccountInfo"),
    ("menu_access", "AccountPassword"),
]

PORTAL = ACCOUNT + [
    ("can_index", "Portal"),
    ("menu_access", "PortalHome"),
    ("can_download", "StoredFile"),
    ("can_index", "Messages"),
    *[
        (f"can_{name}", "Membership")
        for name in ("index", "notice", "apply", "detail", "edit", "act", "delivery", "pay")
    ],
    ("menu_access", "MembershipApply"),
    *[
        (f"can_{name}", "Training")
        for name in (
            "index",
            "new_staff",
            "edit_staff",
            "staff_detail",
            "archive_staff",
            "delete_staff",
            "add_certificate",
            "batch_notice",
            "batch_template",
            "batch_upload",
            "signup_one",
        )
    ],
    ("menu_access", "TrainingPortal"),
]

TRAINING_READ = [
    ("can_list", "TrainingBatchAdmin"),
    ("can_show", "TrainingBatchAdmin"),
    ("menu_access", "TrainingBatches"),
    ("can_overview", "EnrollmentAdmin"),
    ("can_enrollments", "EnrollmentAdmin"),
    ("menu_access", "Enrollments"),
    ("can_search", "StaffSearch"),
    ("can_detail", "StaffSearch"),
    ("menu_access", "StaffSearchMenu"),
    ("menu_access", "TrainingAdmin"),
]
TRAINING_MANAGE = [
    ("can_add", "TrainingBatchAdmin"),
    ("can_edit", "TrainingBatchAdmin"),
    ("can_act", "EnrollmentAdmin"),
]

BACK_OFFICE_READ = (
    ACCOUNT
    + TRAINING_READ
    + [
        ("can_index", "BackOffice"),
        ("menu_access", "BackOfficeHome"),
        ("can_list", "EnterpriseDossier"),
        ("can_show", "EnterpriseDossier"),
        ("menu_access", "EnterpriseDossiers"),
        ("menu_access", "EnterpriseAdmin"),
        ("can_download", "StoredFile"),
    ]
)

# Review queues and every review action of every workflow (permissions declared by the workflows).
REVIEW = [
    *[(f"can_{name}", "ReviewQueue") for name in ("overview", "queue", "detail", "act", "bulk")],
    ("menu_access", "Review"),
    ("menu_access", "ReviewOverview"),
    ("menu_access", "MembershipQueue"),
    *[
        (permission, "MembershipReview")
        for permission in (
            "can_receive",
            "can_approve",
            "can_return",
            "can_refuse",
            "can_confirm_payment",
            "can_return_payment",
        )
    ],
]

CONFIGURATION = [
    ("can_list", "AuditLog"),
    ("can_show", "AuditLog"),
    ("menu_access", "AuditLogMenu"),
    ("can_list", "MemberTierConfig"),
    ("can_show", "MemberTierConfig"),
    ("can_add", "MemberTierConfig"),
    ("can_edit", "MemberTierConfig"),
    ("menu_access", "MemberTiers"),
    ("can_list", "SettingConfig"),
    ("can_show", "SettingConfig"),
    ("can_edit", "SettingConfig"),
    ("menu_access", "Settings"),
    ("can_index", "WorkflowDiagram"),
    ("menu_access", "Workflows"),
    ("menu_access", "Configuration"),
]

ROLE_PERMISSIONS: dict[str, list[tuple[str, str]]] = {
    "AssociationAdmin": BACK_OFFICE_READ + REVIEW + CONFIGURATION + TRAINING_MANAGE,
    "Reviewer": BACK_OFFICE_READ + REVIEW + [("can_act", "EnrollmentAdmin")],
    "Enterprise": PORTAL,
    "OutOfProvinceEnterprise": PORTAL,
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
        "Training",
        "TrainingPortal",
    }
)


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
    for role_name, declared in ROLE_PERMISSIONS.items():
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
