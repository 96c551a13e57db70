"""``get_map().items()`` and ``get_map().values()``: ``collections.abc``'s views, iterated
through the selector's own iterator.

The abc's views iterate the registered fds and then look each one up again; when another
thread unregisters an fd between the two, the lookup raises ``KeyError``. These read each
item in one step under the selector's lock and, like a ``dict``'s views, raise
``RuntimeError`` when the selector's fds change during the iteration.
"""

from collections.abc import ItemsView as _ItemsView
from collections.abc import ValuesView as _ValuesView


class ItemsView(_ItemsView):
    __slots__ = ()

    def __iter__(self):
        return self._mapping._iter_items()


class ValuesView(_ValuesView):
    __slots__ = ()

    def __iter__(self):
        return self._mapping._iter_values()
