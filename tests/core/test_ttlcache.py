"""The one per-process TTL cache."""

import threading

from cpaas.core.ttlcache import TtlCache


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_an_entry_lives_its_ttl_then_is_gone():
    clock = Clock()
    cache = TtlCache(5.0, clock=clock)
    cache.put("k", "v")
    clock.now += 4.9
    assert cache.get("k") == "v"
    clock.now += 0.2
    assert cache.get("k") is None and len(cache) == 0


def test_the_ttl_may_follow_a_value_read_at_each_lookup():
    clock, ttl = Clock(), {"seconds": 10.0}
    cache = TtlCache(lambda: ttl["seconds"], clock=clock)
    cache.put("k", 1)
    clock.now += 5
    assert cache.get("k") == 1
    ttl["seconds"] = 1.0  # a test (or an operator's change) shortens it: stored entries follow
    assert cache.get("k") is None


def test_past_its_size_the_oldest_entry_goes_first():
    cache = TtlCache(60, max_entries=2)
    cache.put("a", 1)
    cache.put("b", 2)
    cache.put("a", 3)  # stored again: now the newest
    cache.put("c", 4)
    assert cache.get("b") is None and cache.get("a") == 3 and cache.get("c") == 4


def test_get_or_load_loads_once_and_caches_none_too():
    cache, calls = TtlCache(60), []

    def load():
        calls.append(1)
        return None

    assert cache.get_or_load("k", load) is None
    assert cache.get_or_load("k", load) is None
    assert len(calls) == 1


def test_forget_forget_where_and_clear():
    cache = TtlCache(60)
    for key in ("a", "b", "c"):
        cache.put(key, key.upper())
    cache.forget("a")
    cache.forget("missing")
    assert cache.get("a") is None
    cache.forget_where(lambda key, value: value == "B")
    assert cache.get("b") is None and cache.get("c") == "C"
    cache.clear()
    assert len(cache) == 0


def test_threads_share_it_without_losing_the_bound():
    cache = TtlCache(60, max_entries=100)

    def fill(offset):
        for i in range(1000):
            cache.put((offset, i), i)
            cache.get((offset, i - 1))

    threads = [threading.Thread(target=fill, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(cache) == 100
