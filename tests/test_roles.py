"""Roles as code: declared permission sets, idempotent sync, deny by default for enterprises."""

from app import db
from app.roles import PORTAL_VIEW_NAMES, role_permissions, sync_roles
from factories import make_enterprise_user, make_user

ALL_ROLES = ["Admin", "AssociationAdmin", "Reviewer", "Enterprise", "OutOfProvinceEnterprise"]


def permissions_of(sm, name):
    return {(pv.permission.name, pv.view_menu.name) for pv in sm.find_role(name).permissions}


def test_every_role_exists_with_exactly_its_declared_permissions(app):
    sm = app.appbuilder.sm
    for name, declared in role_permissions(app.appbuilder).items():
        assert permissions_of(sm, name) == set(declared), name
    assert len(sm.find_role("Admin").permissions) == db.session.query(sm.permissionview_model).count()


def test_sync_is_idempotent_and_repairs_drift(app):
    sm = app.appbuilder.sm
    before = {name: permissions_of(sm, name) for name in ALL_ROLES}
    # Somebody grants an enterprise a back-office permission by hand: the next sync takes it back.
    stray = sm.find_permission_view_menu("can_list", "EnterpriseDossier")
    enterprise_role = sm.find_role("Enterprise")
    enterprise_role.permissions.append(stray)
    db.session.commit()
    sync_roles(app.appbuilder)
    sync_roles(app.appbuilder)
    assert {name: permissions_of(sm, name) for name in ALL_ROLES} == before


def test_enterprise_roles_hold_nothing_outside_the_portal(app):
    sm = app.appbuilder.sm
    for name in ("Enterprise", "OutOfProvinceEnterprise"):
        views = {view for _perm, view in permissions_of(sm, name)}
        assert views <= PORTAL_VIEW_NAMES, views - PORTAL_VIEW_NAMES


def test_enterprise_user_is_refused_every_back_office_page(app, client, auth):
    """Every protected view outside the portal, all its argument-free GET routes."""
    user = make_enterprise_user()
    auth.login(user.username)
    back_office_endpoints = {
        f"{type(view).__name__}.{name}"
        for view in app.appbuilder.baseviews
        if view.base_permissions and view.class_permission_name not in PORTAL_VIEW_NAMES
        for name in dir(view)
    }
    urls = [
        rule.rule
        for rule in app.url_map.iter_rules()
        if rule.endpoint in back_office_endpoints and "GET" in rule.methods and not rule.arguments
    ]
    assert "/backoffice/" in urls and "/users/list/" in urls and "/backoffice/enterprises/list/" in urls
    for url in urls:
        response = client.get(url)
        assert response.status_code in (302, 403, 404, 405), (url, response.status_code)
        if response.status_code == 302:
            assert "/login/" in response.headers["Location"] or response.headers["Location"].endswith("/"), url


def test_reviewer_reads_dossiers_but_cannot_manage_users(app, client, auth):
    user = make_user("Reviewer")
    make_enterprise_user()
    auth.login(user.username)
    assert client.get("/backoffice/enterprises/list/").status_code == 200
    assert client.get("/users/list/").status_code in (302, 403)


def test_admin_manages_users(app, client, auth):
    admin = make_user("Admin")
    auth.login(admin.username)
    assert client.get("/users/list/").status_code == 200
    assert client.get("/roles/list/").status_code == 200
