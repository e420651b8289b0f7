def test_it_returns_the_calling_key_app_and_tenant(api, provisioned):
    response = api.get("/v1/me")
    assert response.status_code == 200
    body = response.json()
    assert body["app"] == provisioned.app.id
    assert body["tenant"] == provisioned.tenant.id
    assert body["key"]["mode"] == "test"
    assert response["Request-Id"].startswith("req_")
    assert int(response["RateLimit-Limit"]) > 0
