import asyncio
import selectors

class SelectorEventLoop(asyncio.SelectorEventLoop):
    def __init__(self, selector: selectors.BaseSelector | None = None) -> None: ...

def new_event_loop() -> SelectorEventLoop: ...

class EventLoopPolicy(asyncio.DefaultEventLoopPolicy):
    def new_event_loop(self) -> SelectorEventLoop: ...
