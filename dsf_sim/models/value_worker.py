"""The fast path's value worker: one thread computing job values, whose queue the clock thread
helps empty while it waits (architecture §20.4).

Why: the clock waits for a job's output at its completion edge; on a two-core machine that wait
is a whole idle core. Waiting through `result()` runs queued value tasks in the waiting thread
(the awaited task itself while it is still queued, else the newest: usually the next job's sums,
started by speculation, while the worker finishes the awaited one), so both cores compute values
while the clock has nothing to do. Splitting each job into two halves of its output groups, one
per thread, was measured slower (0.47-0.50 s against 0.41-0.44 s a ResNet-50 frame): two value
threads at once slow each other by about 40 % (memory), and the clock waits for the slower half.
A finish task awaits its sums task through `result()` as well, so no thread ever blocks on a
task nobody runs.
"""
from __future__ import annotations

import collections
import threading
from concurrent.futures import Future


class ValueWorker:
    """submit(fn, *args) -> Future; result(future) helps while waiting; shutdown() cancels
    what is still queued and joins the thread."""

    def __init__(self, name: str = "dsf-job-values"):
        self._queue = collections.deque()          # (future, fn, args), oldest first
        self._cv = threading.Condition()
        self._closed = False
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)
        self._thread.start()
        self.helped = 0                            # tasks run by waiting threads

    def submit(self, fn, *args) -> Future:
        fut = Future()
        with self._cv:
            if self._closed:
                raise RuntimeError("ValueWorker: submit after shutdown")
            self._queue.append((fut, fn, args))
            self._cv.notify()
        return fut

    def result(self, fut: Future):
        """fut's result; until it is done, this thread runs queued tasks: fut's own while it is
        still queued, else the newest (in the fast path the next job's sums, started by
        speculation, while the worker finishes fut)."""
        while not fut.done():
            with self._cv:
                item = None
                for i, it in enumerate(self._queue):
                    if it[0] is fut:
                        item = it
                        del self._queue[i]
                        break
                if item is None and self._queue:
                    item = self._queue.pop()
            if item is None:
                break                              # fut is running in another thread
            self.helped += 1
            _run(item)
        return fut.result()

    def shutdown(self):
        with self._cv:
            self._closed = True
            while self._queue:
                self._queue.popleft()[0].cancel()
            self._cv.notify_all()
        self._thread.join()

    def _loop(self):
        while True:
            with self._cv:
                while not self._queue and not self._closed:
                    self._cv.wait()
                if not self._queue:
                    return
                item = self._queue.popleft()
            _run(item)


def _run(item):
    fut, fn, args = item
    if not fut.set_running_or_notify_cancel():
        return
    try:
        fut.set_result(fn(*args))
    except BaseException as e:      # re-raised by result() in the thread that asks
        fut.set_exception(e)
