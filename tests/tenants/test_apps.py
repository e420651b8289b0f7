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


def test_a_tenant_cannot_lift_the_keys_cap_by_making_apps(api, other_api, tenant, settings):
    # The keys cap is per app: without a cap on apps, more apps would mean any number of keys.
    settings.APPS_PER_TENANT = App.objects.filter(tenant=tenant).count() + 1
    assert api.post("/v1/apps", {"name": "One more"}, format="json").status_code == 201
    refused = api.post("/v1/apps", {"name": "Too many"}, format="json")
    assert (refused.status_code, refused.json()["error"]["code"]) == (409, "too_many_apps")
    assert not App.objects.filter(name="Too many").exists()
    assert other_api.post("/v1/apps", {"name": "Theirs"}, format="json").status_code == 201
