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
]

BACK_OFFICE_READ = ACCOUNT + [
    ("can_index", "BackOffice"),
    ("menu_access", "BackOfficeHome"),
    ("can_list", "EnterpriseDossier"),
    ("can_show", "EnterpriseDossier"),
    ("menu_access", "EnterpriseDossiers"),
    ("menu_access", "EnterpriseAdmin"),
    ("can_download", "StoredFile"),
]

ROLE_PERMISSIONS: dict[str, list[tuple[str, str]]] = {
    "AssociationAdmin": BACK_OFFICE_READ,
    "Reviewer": BACK_OFFICE_READ,
    "Enterprise": PORTAL,
    "OutOfProvinceEnterprise": PORTAL,
    "Public": [],
}
ADMIN_ROLE = "Admin"  # holds every permission that exists

# Views an enterprise role may ever hold a permission on (deny by default elsewhere).
PORTAL_VIEW_NAMES = frozenset(
    {"Portal", "PortalHome", "StoredFile", "Account", "AccountAdmin", "AccountInfo", "AccountPassword"}
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
