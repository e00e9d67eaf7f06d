"""An admin makes a running API serve a newly promoted champion, through the real MLflow registry under the home."""

from __future__ import annotations

import pytest
from champion_rows import example_row
from fastapi.testclient import TestClient

from handoff.api.app import create_app
from handoff.risk.registry import log_model, set_champion

pytestmark = pytest.mark.slow  # trains and promotes champions


def test_an_admin_reloads_the_champions_after_a_promotion(parts, served_models, make_key, auth) -> None:
    settings = parts.settings
    app = create_app(settings, parts=parts)  # models from the (empty) registry, as `make run` loads them
    admin, pm = auth(make_key("admin")), auth(make_key("pm"))
    with TestClient(app) as client:
        assert client.get("/readyz").json()["models"] == {}
        assert client.post("/v1/models/reload", headers=admin).json() == {"models": {}, "changed": []}
        assert client.get("/v1/accounts/A-1/churn", headers=admin).status_code == 503

        bundle = served_models["churn"].bundle
        version = log_model(settings, bundle, {}, {}, {}, {}, "test card", example_row(bundle))
        set_champion(settings, "churn", version)
        assert client.get("/readyz").json()["models"] == {}  # nothing changes until someone asks
        assert client.post("/v1/models/reload", headers=pm).status_code == 403

        reloaded = client.post("/v1/models/reload", headers=admin)
        assert reloaded.status_code == 200, reloaded.text
        assert reloaded.json() == {"models": {"churn": version}, "changed": ["churn"]}
        assert client.get("/readyz").json()["models"] == {"churn": version}
        assert client.post("/v1/models/reload", headers=admin).json()["changed"] == []
        # The churn route now answers from the new champion (unknown account: 404, no longer 503).
        assert client.get("/v1/accounts/NOPE/churn", headers=admin).status_code == 404
