"""Night lights in the catalog: the ``viirs-nightlights`` collection beside the scores, its ingest
(``devscore viirs ingest``) and the per-granule comparison (``devscore compare``)."""
