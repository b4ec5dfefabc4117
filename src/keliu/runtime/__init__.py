"""The runtime (运行时): how cameras' video becomes counts, sightings and visits over time.

* ``camera``: the one camera loop (a source → the wiring's pipeline → ordered crossings, sightings,
  outages), used by ``keliu count``/``track``, the supervisor and the demo;
* ``recorded``: recorded files in fixed, resumable segments (``keliu process`` on files);
* ``bus`` and ``events``: the bounded in-process event bus and its typed events;
* ``supervisor``: every camera isolated in its own thread, restarted with back-off, added, changed
  and removed while the others run, with per-camera status and counters;
* ``resolution``: a site's visitor resolution (``SiteResolution``) and its live worker on the bus.

May import ``domain``, ``vision``, ``resolve``, ``store``, ``config``, ``wiring`` and ``errors``;
never the CLI, ``processing`` or the service (tests/unit/test_layers.py).
"""
