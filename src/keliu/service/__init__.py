"""The web service (`keliu serve`): FastAPI app factory, settings, auth, audit, one JSON error envelope,
one router module per resource (``routers/``), live push and webhooks.

Reads through ``keliu.store`` and ``keliu.analytics``, drives cameras through ``keliu.runtime``; must not
hold counting or metric rules of its own. Nothing below ``service`` imports it.
"""
