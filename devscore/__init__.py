"""The ``devscore`` command line: gathers the commands of publisher, catalog and tiler_app."""
