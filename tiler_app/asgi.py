"""ASGI entry point for uvicorn workers: the app for the catalog named by DEVSCORE_CATALOG."""

import os

from tiler_app.main import create_app

app = create_app(os.environ["DEVSCORE_CATALOG"], basemap_url=os.environ.get("DEVSCORE_BASEMAP_URL"))
