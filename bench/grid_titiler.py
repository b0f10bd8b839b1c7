"""TiTiler's stock TilerFactory (``?url=``) with devscore's chip-grid reader (tiler_app.gridtiles) and nothing else."""

from fastapi import FastAPI
from titiler.core.errors import DEFAULT_STATUS_CODES, add_exception_handlers
from titiler.core.factory import TilerFactory

from tiler_app.gridtiles import GridReader

app = FastAPI()
app.include_router(TilerFactory(reader=GridReader).router)
add_exception_handlers(app, DEFAULT_STATUS_CODES)
