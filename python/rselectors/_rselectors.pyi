# The native extension module. Its selector classes are re-exported (and typed) by rselectors
# itself: import them from there.
import sys
from collections.abc import Iterator, Mapping
from typing import Any, final

from _typeshed import FileDescriptorLike

from . import EVENT_HANGUP as EVENT_HANGUP
from . import EVENT_PRIORITY as EVENT_PRIORITY
from . import EVENT_READ as EVENT_READ
from . import EVENT_WRITE as EVENT_WRITE
from . import SelectorKey
from . import SelectSelector as SelectSelector
from . import _NativeSelectorImpl as _NativeSelectorImpl

__all__ = [
    "EVENT_HANGUP",
    "EVENT_PRIORITY",
    "EVENT_READ",
    "EVENT_WRITE",
    "SelectSelector",
    "_NativeSelectorImpl",
    "_NativeSelectorMapping",
    "_SelectorMappingIterator",
    "__version__",
    "_features",
]

if sys.platform != "win32":
    from . import PollSelector as PollSelector

    __all__ += ["PollSelector"]
if sys.platform == "linux":
    from . import EpollSelector as EpollSelector

    __all__ += ["EpollSelector"]
if sys.platform != "linux" and sys.platform != "darwin" and sys.platform != "win32":
    from . import DevpollSelector as DevpollSelector

    __all__ += ["DevpollSelector"]
if sys.platform != "win32" and sys.platform != "linux":
    from . import KqueueSelector as KqueueSelector

    __all__ += ["KqueueSelector"]

__version__: str

@final
class _NativeSelectorMapping(Mapping[FileDescriptorLike, SelectorKey]):
    def __getitem__(self, fileobj: FileDescriptorLike, /) -> SelectorKey: ...
    def __iter__(self) -> Iterator[FileDescriptorLike]: ...
    def __len__(self) -> int: ...

@final
class _SelectorMappingIterator(Iterator[FileDescriptorLike]):
    def __next__(self) -> FileDescriptorLike: ...

def _features() -> dict[str, Any]:
    """Build and kernel features, for ``python -m rselectors info``."""
