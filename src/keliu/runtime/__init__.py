"""The runtime: how cameras' video becomes sightings over time (recorded files in resumable segments).

Sits beside ``processing`` (it may import ``vision``, ``domain``, ``config`` and ``wiring``); must not
import the store's callers, the CLI or a service.
"""
