import asyncio
import selectors
from typing import ClassVar

class SelectorEventLoop(asyncio.SelectorEventLoop):
    use_wakeup: ClassVar[bool]
    def __init__(self, selector: selectors.BaseSelector | None = None) -> None: ...

def new_event_loop() -> SelectorEventLoop: ...

class EventLoopPolicy(asyncio.DefaultEventLoopPolicy):
    def new_event_loop(self) -> SelectorEventLoop: ...
