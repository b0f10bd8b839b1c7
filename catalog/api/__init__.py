"""A STAC API (stac-fastapi) over an embedded SQLite R*Tree index of a static catalog."""
