"""The apps endpoints, isolated by tenant."""

from cpaas.tenants.models import App, AuditLogEntry


def test_it_creates_an_app_and_audits_it(api, tenant):
    response = api.post("/v1/apps", {"name": "Shop"}, format="json")
    assert response.status_code == 201
    body = response.json()
    assert body["id"].startswith("app_") and body["object"] == "app" and body["tenant"] == tenant.id
    assert AuditLogEntry.objects.filter(action="app.created", target_id=body["id"]).exists()


def test_it_lists_only_my_tenants_apps(api, other_api, app, other_provisioned):
    mine = [a["id"] for a in api.get("/v1/apps").json()["data"]]
    assert mine == [app.id]
    assert [a["id"] for a in other_api.get("/v1/apps").json()["data"]] == [other_provisioned.app.id]


def test_another_tenants_app_is_a_404(other_api, app):
    response = other_api.get(f"/v1/apps/{app.id}")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_my_app_is_found(api, app):
    assert api.get(f"/v1/apps/{app.id}").json()["name"] == app.name


def test_a_name_is_required(api):
    assert api.post("/v1/apps", {"name": "  "}, format="json").json()["error"]["param"] == "name"
    assert App.objects.filter(name="  ").count() == 0
