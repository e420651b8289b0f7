"""Cursor pagination: newest first, stable cursors, bounded limits."""

import pytest

from cpaas.tenants.services import app_create


@pytest.fixture
def five_apps(tenant, app):
    return [app.id] + [app_create(tenant_id=tenant.id, name=f"app {i}").id for i in range(4)]


def test_it_pages_newest_first_with_starting_after(api, five_apps):
    newest_first = list(reversed(five_apps))
    page = api.get("/v1/apps?limit=2").json()
    assert page["object"] == "list"
    assert [a["id"] for a in page["data"]] == newest_first[:2]
    assert page["has_more"] is True
    page = api.get(f"/v1/apps?limit=2&starting_after={page['data'][-1]['id']}").json()
    assert [a["id"] for a in page["data"]] == newest_first[2:4]
    page = api.get(f"/v1/apps?limit=2&starting_after={page['data'][-1]['id']}").json()
    assert [a["id"] for a in page["data"]] == newest_first[4:]
    assert page["has_more"] is False


def test_it_pages_backwards_with_ending_before(api, five_apps):
    newest_first = list(reversed(five_apps))
    page = api.get(f"/v1/apps?limit=2&ending_before={newest_first[4]}").json()
    assert [a["id"] for a in page["data"]] == newest_first[2:4]
    assert page["has_more"] is True


@pytest.mark.parametrize("query,param", [
    ("limit=0", "limit"), ("limit=101", "limit"), ("limit=abc", "limit"),
    ("starting_after=", "starting_after"), ("starting_after=nope", "starting_after"),
    ("starting_after=app_x&ending_before=app_y", "ending_before"),
])
def test_it_refuses_bad_paging_parameters(api, query, param):
    response = api.get(f"/v1/apps?{query}")
    assert response.status_code == 400
    assert response.json()["error"]["param"] == param


def test_a_list_costs_a_fixed_number_of_queries(api, five_apps, django_assert_max_num_queries):
    api.get("/v1/apps")  # warm the key cache
    with django_assert_max_num_queries(1):
        assert api.get("/v1/apps?limit=100").status_code == 200
