"""Web fixtures: the API's key fixtures, for comparing a page with what `/v1` shows the same role."""

from tests.api.conftest import auth, make_key  # noqa: F401
