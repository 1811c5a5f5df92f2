"""Shared fixtures: real PostgreSQL and Mosquitto (see tests/support/services.py), migrated databases."""

import os
import signal
import sys

# Make `tests.support` and `gateway` importable whatever the import mode or working directory
# (pytest's default "prepend" mode already does this because tests/ is a package).
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

import pytest  # noqa: E402

from tests.support import services  # noqa: E402


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def pytest_configure(config):
    # A plain SIGTERM (CI timeout, `kill`) ends Python without running fixture finalizers or atexit
    # handlers, leaving the servers we started behind. Treat it like Ctrl-C so teardown runs.
    if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
        signal.signal(signal.SIGTERM, _interrupt)


def pytest_collection_modifyitems(config, items):
    # Tests marked postgres_only (row locks, real concurrency) have no SQLite variant to run.
    deselected = [item for item in items
                  if item.get_closest_marker("postgres_only")
                  and getattr(item, "callspec", None)
                  and item.callspec.params.get("database_url") == "sqlite"]
    if deselected:
        config.hook.pytest_deselected(items=deselected)
        items[:] = [item for item in items if item not in deselected]


@pytest.fixture(scope="session")
def postgres_admin_url(request):
    """Admin URL (database `postgres`) of a real PostgreSQL server, started if none runs."""
    return services.ensure_postgres(request.addfinalizer)


@pytest.fixture(scope="session")
def mqtt_broker(request):
    """(host, port) of a real Mosquitto broker accepting anonymous clients, started if none runs."""
    return services.ensure_mosquitto(request.addfinalizer)


def _migrate(url):
    from gateway.adapters.db.schema import upgrade

    upgrade(url)


def _migrated_postgres_database(request):
    admin_url = request.getfixturevalue("postgres_admin_url")
    url = services.create_database(admin_url)
    request.addfinalizer(lambda: services.drop_database(admin_url, url))
    _migrate(url)
    return url


@pytest.fixture(scope="session", params=["sqlite", "postgresql"], ids=["sqlite", "postgresql"])
def database_url(request, tmp_path_factory):
    """A migrated database for the session, once on a SQLite file and once on PostgreSQL."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('sqlite') / 'paygate.db'}"
        _migrate(url)
        return url
    return _migrated_postgres_database(request)


@pytest.fixture(scope="session")
def var_dir(tmp_path_factory):
    """The session's local state (vault keys above all): one for the integration and fuzz tests,
    whose workers may read each other's cards in the shared PostgreSQL database."""
    return tmp_path_factory.mktemp("var")


@pytest.fixture(scope="session")
def postgres_database_url(request):
    """A migrated PostgreSQL-only database (for row locks / concurrency), separate from database_url."""
    return _migrated_postgres_database(request)
