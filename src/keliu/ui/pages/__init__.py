"""The web UI's screens; importing this package registers every page with NiceGUI."""

from keliu.ui.pages import (  # noqa: F401
    account,
    analysis,
    bigscreen,
    home,
    lookup,
    reception,
    reports,
    settings,
    stores,
    workbench,
)
