"""The station layer's tests use the archives of the job tests and the audit repositories
of the audit tests."""

from tests.audit.conftest import pki, rsyslog  # noqa: F401 - shared fixtures
from tests.jobs.conftest import archive  # noqa: F401 - shared fixture
