"""devscore catalog: the score Collection, the static catalog, validation and the STAC API backend."""
