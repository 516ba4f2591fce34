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


class Memo:
    """Thread-safe LRU of ``max_items`` computed values, each valid for one stamp."""

    def __init__(self, max_items):
        self._max_items = max_items
        self._items = collections.OrderedDict()  # key -> (stamp, value)
        self._lock = threading.Lock()
        self._computing = Striped()

    def get(self, key, stamp, compute):
        """The value of ``key`` computed at ``stamp``: kept, or ``compute()`` now.

        ``compute`` may see newer data than ``stamp`` describes (a reload between
        the listing and the read): the value is then computed again on the next
        call, never served for data it has not seen.
        """
        found = self._get(key, stamp)
        if found is not None:
            return found[0]
        with self._computing.lock(key):
            found = self._get(key, stamp)
            if found is not None:
                return found[0]
            value = compute()
            with self._lock:
                self._items.pop(key, None)
                self._items[key] = (stamp, value)
                while len(self._items) > self._max_items:
                    self._items.popitem(last=False)
        return value

    def _get(self, key, stamp):
        with self._lock:
            item = self._items.get(key)
            if item is None or item[0] != stamp:
                return None
            self._items.move_to_end(key)
            return (item[1],)


class Striped:
    """``STRIPES`` locks; ``lock(key)`` is the one for ``key`` (one key always gets the same).

    Re-entrant, so a thread holding one may take it again for another key that
    shares it. Hold one ``Striped``'s locks one at a time (or always in one order).
    """

    def __init__(self, stripes=STRIPES):
        self._locks = [threading.RLock() for _ in range(stripes)]

    def lock(self, key):
        return self._locks[hash(key) % len(self._locks)]
