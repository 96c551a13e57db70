"""rsbench: the benchmark engine of rselectors' ``benches/`` (a development tool).

Scripts in ``benches/`` import it directly (``python benches/compare.py``: their folder is on
``sys.path``); worker processes put ``benches/`` on theirs. Modules, from the bottom up:

* ``common``: implementations by module name, backends, the fds a case registers;
* ``stats``: percentiles and summaries; ``timing``: generated loops, timed interleaved;
* ``cases``: the micro cases and the plan of every case (micro, memory, timeout, echo);
* ``echo``: echo servers and load clients, each in its own process;
* ``workers``: one process per case; ``floor``: builds the C floor (``benches/floor``);
* ``report``: the text table and the README's Markdown table; ``plot``: the ``--png`` chart;
* ``cli``: the driver behind ``compare.py`` and ``echo_load.py``;
* ``asyncio_wakeup``: asyncio wake-ups, ``wakeup()`` against the self-pipe.
* ``prefork``: a pre-fork accept loop (forked workers on one listening socket), for
  ``exclusive_wakeups.py`` and ``tests/reliability/test_prefork.py``.

Only the standard library is imported at module level (matplotlib by ``plot`` alone); the
implementations under test are imported by name, in the workers.
"""
