import asyncio
import selectors
from collections.abc import Callable, Coroutine
from typing import Any, ClassVar, TypeVar

_T = TypeVar("_T")

class SelectorEventLoop(asyncio.SelectorEventLoop):
    use_wakeup: ClassVar[bool]
    def __init__(self, selector: selectors.BaseSelector | None = None) -> None: ...

def new_event_loop() -> SelectorEventLoop: ...
def run(
    main: Coroutine[Any, Any, _T],
    *,
    loop_factory: Callable[[], SelectorEventLoop] = ...,
    debug: bool | None = None,
) -> _T: ...

class EventLoopPolicy(asyncio.DefaultEventLoopPolicy):
    def new_event_loop(self) -> SelectorEventLoop: ...
