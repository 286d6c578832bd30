"""A few costly, thread-unsafe objects lent to one caller at a time.

A LiteRT interpreter holds its tensors in place and a dlib face detector gives garbage to two threads
at once, so neither can be shared; one per web thread, though, costs a worker hundreds of MB (a
gunicorn worker has 32 threads) and buys nothing on 2 cores. A pool makes at most ``size`` of them,
on demand, and callers beyond that wait for one to come back.
"""
from __future__ import annotations

import queue
import threading
from contextlib import contextmanager
from typing import Callable, Generic, Iterator, TypeVar

T = TypeVar("T")


class Pool(Generic[T]):
    """At most ``size`` objects made by ``make`` when first needed, each lent to one caller at a time."""

    def __init__(self, make: Callable[[], T], size: int):
        self._make = make
        self._idle: queue.LifoQueue[T] = queue.LifoQueue()
        self._slots = threading.BoundedSemaphore(size)
        self._created, self._lock = 0, threading.Lock()

    @property
    def created(self) -> int:
        """Objects made so far (never more than ``size``)."""
        return self._created

    def add(self, item: T) -> None:
        """Put an object made elsewhere in (one made early to fail at load time); it counts as made."""
        with self._lock:
            self._created += 1
        self._idle.put(item)

    @contextmanager
    def lease(self) -> Iterator[T]:
        """An object for this caller alone until the block ends; made now if none is idle and the
        pool is not full (an error making it reaches the caller and leaves the pool as it was)."""
        with self._slots:
            try:
                item = self._idle.get_nowait()
            except queue.Empty:
                item = self._make()
                with self._lock:
                    self._created += 1
            try:
                yield item
            finally:
                self._idle.put(item)
