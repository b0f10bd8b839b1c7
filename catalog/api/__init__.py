"""A STAC API (stac-fastapi) over an embedded SQLite R*Tree index of a static catalog."""

import logging

# stac-fastapi builds a default ApiSettings when imported and warns that its title, description and
# version are the defaults; devscore's app passes its own (catalog.api.app), so the warning is untrue.
_settings_log = logging.getLogger("stac_fastapi.types.config")
_level = _settings_log.level
_settings_log.setLevel(logging.ERROR)
import stac_fastapi.types.core  # noqa: E402,F401

_settings_log.setLevel(_level)
