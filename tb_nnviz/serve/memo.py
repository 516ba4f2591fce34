"""Values computed from a log's data, kept while the data they were computed from is unchanged.

A ``Memo`` holds one value per key with the ``stamp`` of the data it was
computed from (for example the ``(max_step, max_wall_time)`` the data
provider lists for every tag read); asked with another stamp, it computes
again. Requests that ask for the same key at once compute it once: the others
wait for that value (TensorBoard serves requests on several threads, and a
tab's reload asks for several routes of one run together).

>>> m = Memo(2)
>>> m.get("run", (5,), lambda: "findings at step 5")
'findings at step 5'
>>> m.get("run", (5,), lambda: "not computed again")
'findings at step 5'
>>> m.get("run", (6,), lambda: "findings at step 6")
'findings at step 6'
"""

import collections
import threading

#: Locks shared by the keys of one ``Memo`` (keys hash to one of them): bounded,
#: and two keys rarely wait for each other.
STRIPES = 64


class StampedLRU:
    """Thread-safe LRU of values, each valid for one stamp, bounded by their total weight.

    >>> c = StampedLRU(10)
    >>> c.put("a", (1,), "kept", weight=6)
    >>> c.get("a", (1,)), c.get("a", (2,)), c.peek("a")
    ('kept', None, 'kept')
    >>> c.put("b", (1,), "pushes a out", weight=6)
    >>> c.get("a", (1,)) is None
    True
    """

    def __init__(self, max_weight):
        self._max_weight = max_weight
        self._items = collections.OrderedDict()  # key -> (stamp, value, weight)
        self._weight = 0
        self._lock = threading.Lock()

    def get(self, key, stamp):
        """The value of ``key`` if kept at ``stamp``, else None."""
        with self._lock:
            item = self._items.get(key)
            if item is None or item[0] != stamp:
                return None
            self._items.move_to_end(key)
            return item[1]

    def peek(self, key):
        """The value kept under ``key`` whatever its stamp (or None), without refreshing it."""
        with self._lock:
            item = self._items.get(key)
            return None if item is None else item[1]

    def put(self, key, stamp, value, weight=1):
        """Keeps ``value`` as current at ``stamp`` (not when heavier than the whole bound);
        the least recently used values make room."""
        with self._lock:
            old = self._items.pop(key, None)
            if old is not None:
                self._weight -= old[2]
            if weight > self._max_weight:
                return
            self._items[key] = (stamp, value, weight)
            self._weight += weight
            while self._weight > self._max_weight:
                _, (_, _, evicted) = self._items.popitem(last=False)
                self._weight -= evicted

    def discard(self, key):
        """Forgets ``key``."""
        with self._lock:
            old = self._items.pop(key, None)
            if old is not None:
                self._weight -= old[2]


class Memo:
    """Thread-safe LRU of ``max_items`` computed values, each valid for one stamp."""

    def __init__(self, max_items):
        self._items = StampedLRU(max_items)
        self._computing = Striped()

    def get(self, key, stamp, compute):
        """The value of ``key`` computed at ``stamp``: kept, or ``compute()`` now.

        ``compute`` may see newer data than ``stamp`` describes (a reload between
        the listing and the read): the value is then computed again on the next
        call, never served for data it has not seen.
        """
        found = self._items.get(key, stamp)  # (value,): a value may be None
        if found is not None:
            return found[0]
        with self._computing.lock(key):
            found = self._items.get(key, stamp)
            if found is not None:
                return found[0]
            value = compute()
            self._items.put(key, stamp, (value,))
        return value

    def peek(self, key):
        """The value last computed for ``key`` whatever its stamp, or None."""
        found = self._items.peek(key)
        return None if found is None else found[0]


class Striped:
    """``STRIPES`` locks; ``lock(key)`` is the one for ``key`` (one key always gets the same).

    Re-entrant, so a thread holding one may take it again for another key that
    shares it. Hold one ``Striped``'s locks one at a time (or always in one order).
    """

    def __init__(self, stripes=STRIPES):
        self._locks = [threading.RLock() for _ in range(stripes)]

    def lock(self, key):
        return self._locks[hash(key) % len(self._locks)]
