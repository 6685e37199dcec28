"""List pages run a fixed number of queries, whatever the number of rows (no N+1)."""

from contextlib import contextmanager

from sqlalchemy import event

from app import db
from factories import make_enterprise, make_enterprise_user, make_user


@contextmanager
def count_queries():
    statements: list[str] = []

    def record(conn, cursor, statement, parameters, context, executemany):
        statements.append(statement)

    event.listen(db.engine, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        event.remove(db.engine, "before_cursor_execute", record)


def queries_for(client, url: str) -> int:
    client.get(url)  # warm-up: the first request of a session loads the user's roles once
    with count_queries() as statements:
        assert client.get(url).status_code == 200
    return len(statements)


def test_enterprise_dossier_list_query_count_is_flat(app, client, auth):
    reviewer = make_user("Reviewer")
    auth.login(reviewer.username)
    for _ in range(3):
        make_enterprise_user()
    few = queries_for(client, "/backoffice/enterprises/list/")
    for _ in range(30):
        make_enterprise()
    many = queries_for(client, "/backoffice/enterprises/list/")
    assert many == few
    assert many <= 6, many


def test_back_office_dashboard_query_count_is_flat(app, client, auth):
    reviewer = make_user("Reviewer")
    auth.login(reviewer.username)
    make_enterprise()
    few = queries_for(client, "/backoffice/")
    for region in ("320102", "330102", "340202"):
        for _ in range(5):
            make_enterprise(region_code=region)
    assert queries_for(client, "/backoffice/") == few
