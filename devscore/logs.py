"""Log output a person can read: devscore's own messages at the chosen level, libraries (rasterio,
httpx, numexpr, titiler, ...) at WARNING unless the level is debug."""

from __future__ import annotations

import logging

#: Loggers of devscore's packages (their modules log under ``__name__``).
OWN_LOGGERS = ("devscore", "publisher", "catalog", "tiler_app")
LEVELS = ("debug", "info", "warning", "error")
FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def configure_logging(level: str = "info") -> None:
    """Root (every library) at WARNING, or DEBUG when ``level`` is debug; devscore's loggers at ``level``."""
    numeric = getattr(logging, level.upper())
    root = logging.DEBUG if numeric <= logging.DEBUG else logging.WARNING
    logging.basicConfig(level=root, format=FORMAT)
    logging.getLogger().setLevel(root)  # also when a library configured logging first
    for name in OWN_LOGGERS:
        logging.getLogger(name).setLevel(numeric)
