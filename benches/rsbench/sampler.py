"""The sampler an echo server runs when profiled (``profile.py`` drives it): the server side
of the profile, apart so that ``echo`` (which installs it) and ``profile`` (which starts the
servers through ``echo``) do not import each other."""

import os
import signal

#: the environment variable that makes ``echo.serve`` install the sampler: ``PATH,RATE``
PROFILE_ENV = "RSBENCH_PROFILE"


def install_sampler(path, rate):
    """In a server: sample the main thread's Python stack ``rate`` times per CPU second
    between two ``SIGUSR2``; the second writes ``stack count`` lines (outermost frame first,
    frames joined by ``;``) to ``path``."""
    counts = {}
    on = []

    def sample(signum, frame):
        stack = []
        while frame is not None:
            code = frame.f_code
            name = getattr(code, "co_qualname", code.co_name)
            stack.append(f"{name} ({code.co_filename}:{frame.f_lineno})")
            frame = frame.f_back
        key = ";".join(reversed(stack))
        counts[key] = counts.get(key, 0) + 1

    def toggle(signum, frame):
        if not on:
            counts.clear()
            on.append(True)
            signal.setitimer(signal.ITIMER_PROF, 1.0 / rate, 1.0 / rate)
            return
        signal.setitimer(signal.ITIMER_PROF, 0)
        on.clear()
        with open(path + ".tmp", "w") as f:
            f.write("".join(f"{k} {n}\n" for k, n in counts.items()))
        os.replace(path + ".tmp", path)

    signal.signal(signal.SIGPROF, sample)
    signal.signal(signal.SIGUSR2, toggle)
