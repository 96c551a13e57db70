# Stubs for rselectors: the signatures of typeshed's stdlib/selectors.pyi, so that
# ``import rselectors as selectors`` type-checks like the stdlib module, plus the rselectors
# extensions (wakeup() and WakeableSelector, EVENT_PRIORITY/EVENT_HANGUP and register's
# exclusive=, the asyncio helpers, install()/uninstall()).
import sys
from abc import abstractmethod
from collections.abc import Iterator, Mapping
from selectors import EVENT_READ as EVENT_READ
from selectors import EVENT_WRITE as EVENT_WRITE
from selectors import BaseSelector as BaseSelector
from selectors import SelectorKey as SelectorKey
from selectors import _BaseSelectorImpl as _BaseSelectorImpl
from selectors import _PollLikeSelector as _PollLikeSelector
from typing import Any, Final

from _typeshed import FileDescriptorLike, Unused
from typing_extensions import Self, disjoint_base

from ._asyncio import EventLoopPolicy as EventLoopPolicy
from ._asyncio import SelectorEventLoop as SelectorEventLoop
from ._asyncio import new_event_loop as new_event_loop
from ._asyncio import run as run
from ._install import install as install
from ._install import uninstall as uninstall

__version__: str
EVENT_PRIORITY: Final = 16
EVENT_HANGUP: Final = 32
__all__ = [
    "EVENT_HANGUP",
    "EVENT_PRIORITY",
    "EVENT_READ",
    "EVENT_WRITE",
    "BaseSelector",
    "DefaultSelector",
    "EventLoopPolicy",
    "SelectSelector",
    "SelectorEventLoop",
    "SelectorKey",
    "WakeableSelector",
    "install",
    "new_event_loop",
    "run",
    "uninstall",
]
if sys.platform != "win32":
    __all__ += ["PollSelector"]
if sys.platform == "linux":
    __all__ += ["EpollSelector"]
if sys.platform != "linux" and sys.platform != "darwin" and sys.platform != "win32":
    __all__ += ["DevpollSelector"]
if sys.platform != "win32" and sys.platform != "linux":
    __all__ += ["KqueueSelector"]

class WakeableSelector(BaseSelector):
    """A ``selectors.BaseSelector`` that also has ``wakeup()``: what rselectors' selectors add.

    Narrow a stdlib-typed selector with ``isinstance(sel, rselectors.WakeableSelector)``.
    """

    @abstractmethod
    def wakeup(self) -> None:
        """Make a select() blocked in another thread (or the next select()) return promptly.

        Thread-safe; calls made before a select() consumes them are coalesced into one
        wake-up; does nothing once the selector is closed. (rselectors extension.)
        """

# The stdlib's private helpers, re-exported as they are (typeshed types the first two; the
# other two are typed here as the stdlib defines them).
class _SelectorMapping(Mapping[FileDescriptorLike, SelectorKey]):
    def __init__(self, selector: _BaseSelectorImpl) -> None: ...
    def __getitem__(self, fileobj: FileDescriptorLike) -> SelectorKey: ...
    def __iter__(self) -> Iterator[FileDescriptorLike]: ...
    def __len__(self) -> int: ...

def _fileobj_to_fd(fileobj: FileDescriptorLike) -> int: ...

# The native base of the selector classes below (not a subclass of the stdlib's
# _BaseSelectorImpl: it has none of its private attributes).
@disjoint_base
class _NativeSelectorImpl(WakeableSelector):
    def register(
        self, fileobj: FileDescriptorLike, events: int, data: Any = None, *, exclusive: bool = False
    ) -> SelectorKey: ...
    def unregister(self, fileobj: FileDescriptorLike) -> SelectorKey: ...
    def modify(self, fileobj: FileDescriptorLike, events: int, data: Any = None) -> SelectorKey: ...
    def select(self, timeout: float | None = None) -> list[tuple[SelectorKey, int]]: ...
    def close(self) -> None: ...
    def get_key(self, fileobj: FileDescriptorLike) -> SelectorKey: ...
    def get_map(self) -> Mapping[FileDescriptorLike, SelectorKey]: ...
    def __enter__(self) -> Self: ...
    def __exit__(self, *args: Unused) -> None: ...
    def wakeup(self) -> None: ...

class SelectSelector(_NativeSelectorImpl): ...

if sys.platform != "win32":
    class PollSelector(_NativeSelectorImpl): ...

if sys.platform == "linux":
    class EpollSelector(_NativeSelectorImpl):
        def fileno(self) -> int: ...

if sys.platform != "linux" and sys.platform != "darwin" and sys.platform != "win32":
    # Solaris only
    class DevpollSelector(_NativeSelectorImpl):
        def fileno(self) -> int: ...

if sys.platform != "win32" and sys.platform != "linux":
    class KqueueSelector(_NativeSelectorImpl):
        def fileno(self) -> int: ...

# At run time an alias of the best class that works here (as in the stdlib), chosen at import.
class DefaultSelector(_NativeSelectorImpl):
    if sys.platform != "win32":
        def fileno(self) -> int: ...
