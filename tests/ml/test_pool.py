"""ml.pool: a few thread-unsafe objects, each lent to one caller at a time, made only when needed."""
import threading
import time

import pytest

from ml.pool import Pool


def test_many_threads_share_a_few_objects_never_at_once():
    made, holders, overlaps = [], {}, []
    lock = threading.Lock()

    def make():
        made.append(object())
        return made[-1]

    pool = Pool(make, size=2)

    def work():
        for _ in range(5):
            with pool.lease() as item:
                with lock:
                    if holders.get(id(item)):
                        overlaps.append(item)
                    holders[id(item)] = True
                time.sleep(0.002)
                with lock:
                    holders[id(item)] = False

    threads = [threading.Thread(target=work) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert 1 <= pool.created == len(made) <= 2 and not overlaps


def test_an_object_that_cannot_be_made_leaves_the_pool_usable():
    calls = []

    def make():
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("broken file")
        return "ok"

    pool = Pool(make, size=1)
    with pytest.raises(RuntimeError):
        with pool.lease():
            pass
    with pool.lease() as item:           # the slot came back: no deadlock, and the next try works
        assert item == "ok"
    assert pool.created == 1


def test_an_added_object_is_lent_first_and_counted():
    pool = Pool(lambda: "made", size=2)
    pool.add("early")
    with pool.lease() as item:
        assert item == "early"
    assert pool.created == 1
