"""Benchmarks: ``python -m bench`` (``make bench``) is the suite; docs/performance.md explains it.

- ``internals``: the only imports of project code (a moved module is fixed there);
- ``scenarios``: the eight scenarios and what they share; ``__main__``: the command line;
- ``measure``: one measured connector run (drain to lag 0, or a steady-state window);
- ``processes``, ``cluster``, ``proc``: the emulator and connector processes, the broker and
  its topics, what is read from /proc;
- ``dataset``, ``formats``: the records (a generated pool, copied cheaply) and value formats;
- ``ceiling``, ``steady``, ``receiver``: the in-process ceiling, latency under steady load and
  the emulator with a receipt clock it needs;
- ``figures``, ``report``, ``profile``: medians/ranges/ratios, the table, results.json and the
  plot, py-spy summaries;
- ``e2e``, ``mapping``, ``codec``, ``emulator``: single-purpose benchmarks of one part.
"""
