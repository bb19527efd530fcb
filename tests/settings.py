"""The test run's settings: the project's, plus a host app with models of its own
(tests/hostapp) for the tests of ``crmsync.register``. The project itself never installs it."""

from project.settings import *  # noqa: F403
from project.settings import INSTALLED_APPS

INSTALLED_APPS = [*INSTALLED_APPS, "tests.hostapp"]
