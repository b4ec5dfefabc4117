"""The demo chain (演示数据): a deterministic simulator of a chain's resolved visits and its bulk loader,
for `keliu demo seed`, `make run` and the benchmarks (docs/demo-data.md).

``sites`` (the chain and its weather), ``simulate`` (the generator), ``columns`` (the simulated visits
as numpy columns) and ``load`` (``seed_demo``: into a store). It may import ``domain``, ``analytics``
(rollups, calendar), ``store``, ``errors`` and ``paths``; the product never needs it at run time and
``keliu.analytics`` never imports it (tests/unit/test_layers.py).
"""
