def test_the_openapi_document_is_served_without_a_key(anon, db):
    response = anon.get("/v1/openapi.json")
    assert response.status_code == 200
    document = response.json()
    assert document["openapi"].startswith("3.1")
    assert "/v1/me" in document["paths"]
    assert "/v1/api-keys/{key_id}" in document["paths"]
    assert document["components"]["securitySchemes"]["ApiKey"]["scheme"] == "bearer"


def test_the_reference_page_renders(anon, db):
    response = anon.get("/v1/reference")
    assert response.status_code == 200
    assert b"redoc" in response.content.lower()


def test_the_docs_pages_resolve_error_links(anon, db):
    response = anon.get("/docs/errors")
    assert response.status_code == 200
    assert b'id="rate_limited"' in response.content
    assert anon.get("/docs/../settings").status_code == 404


def test_links_between_served_docs_pages_resolve(anon, db):
    """The docs link each other as ``sms.md`` and ``decisions/0930-….md`` (so they work on GitHub):
    followed from a served page, those must be served too, and nothing outside docs/ is."""
    assert anon.get("/docs/sms.md").status_code == 200
    decision = "decisions/0930-sms-status-callbacks-in-the-callback-outbox.md"
    assert anon.get(f"/docs/{decision}").status_code == 200
    for outside in ("/docs/../README.md", "/docs/decisions/../../pyproject", "/docs/migrations/x.md",
                    "/docs/.md", "/docs/decisions/"):
        assert anon.get(outside).status_code == 404, outside


def test_the_schema_validates_without_warnings(db, tmp_path):
    from django.core.management import call_command

    call_command("spectacular", "--validate", "--fail-on-warn", "--format", "openapi-json",
                 "--file", str(tmp_path / "schema.json"))
    import json

    document = json.loads((tmp_path / "schema.json").read_text())
    assert document["paths"]["/v1/me"]["get"]["responses"]["default"]["content"]


def test_list_operations_document_the_list_envelope_not_a_bare_array(anon, db):
    document = anon.get("/v1/openapi.json").json()
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if method != "get" or not operation["operationId"].endswith("_list"):
                continue
            schema = operation["responses"]["200"]["content"]["application/json"]["schema"]
            if "$ref" in schema:
                schema = document["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
            assert schema.get("type") == "object" and "data" in schema["properties"], (path, schema)
