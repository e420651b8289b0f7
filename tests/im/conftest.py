import pytest

from cpaas.im import metering
from cpaas.im.moderation import _cache
from cpaas.im.state import state


def _flush_im_redis():
    st = state()
    if hasattr(st, "r"):
        keys = list(st.r.scan_iter("cpaas:im:*", count=1000))
        if keys:
            st.r.delete(*keys)


@pytest.fixture(autouse=True)
def _fresh_im_caches():
    _flush_im_redis()
    metering.reset_local_cache()
    _cache.clear()
    yield
    metering.reset_local_cache()
    _cache.clear()


@pytest.fixture
def users(api):
    for uid in ("alice", "bob", "carol"):
        assert api.post("/v1/im/users", {"user_id": uid, "name": uid.title()}, format="json").status_code == 201
    return ["alice", "bob", "carol"]
