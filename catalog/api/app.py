"""Factories for the STAC API: a stac-fastapi app over any SearchBackend, mountable under a prefix."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from fastapi import Depends, FastAPI, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.staticfiles import StaticFiles
from stac_fastapi.api.app import StacApi
from stac_fastapi.api.models import ItemCollectionUri, create_get_request_model, create_post_request_model, create_request_model
from stac_fastapi.extensions import QueryExtension, TokenPaginationExtension
from stac_fastapi.types.config import ApiSettings

from catalog.api.backend import SearchBackend, StaticCatalogBackend
from catalog.api.client import CatalogClient, LinkHook
from catalog.api.errors import install_stac_error_handlers, json_object_body
from catalog.reader import StaticCatalog
from publisher import __version__


DESCRIPTION = "Search the devscore catalog by date, bbox, ids and properties."


def create_stac_api(
    backend: SearchBackend,
    files_url: Callable[[Request], str],
    *,
    item_links: LinkHook | None = None,
    collection_links: LinkHook | None = None,
    title: str = "devscore STAC API",
    mount_path: str = "",
) -> FastAPI:
    """The STAC API (Core, Item Search, Features, Query, token paging) as a FastAPI app.

    ``files_url(request)`` is the absolute URL under which the catalog's files are served; asset
    hrefs of served items point there. Mount the returned app at ``mount_path`` (links include it).
    """
    extensions = [QueryExtension(), TokenPaginationExtension()]
    client = CatalogClient(backend=backend, files_url=files_url, item_links=item_links,
                           collection_links=collection_links, extensions=extensions, landing_page_id="devscore",
                           title=title, description=DESCRIPTION)
    items_get = create_request_model("ItemCollectionURI", base_model=ItemCollectionUri,
                                     mixins=[TokenPaginationExtension().GET])
    api = StacApi(
        app=FastAPI(title=title, version=__version__, openapi_url="/api", docs_url="/api.html",
                    dependencies=[Depends(json_object_body)]),
        settings=ApiSettings(stac_fastapi_title=title, stac_fastapi_landing_id="devscore",
                             stac_fastapi_description=DESCRIPTION, stac_fastapi_version=__version__),
        client=client,
        extensions=extensions,
        search_get_request_model=create_get_request_model(extensions),
        search_post_request_model=create_post_request_model(extensions),
        items_get_request_model=items_get,
        title=title,
        api_version=__version__,
    )
    install_stac_error_handlers(api.app)
    api.app.state.router_prefix = mount_path  # stac-fastapi builds every link from it
    return api.app


def create_app(catalog_dir: str | Path, *, files_prefix: str = "/files") -> FastAPI:
    """A standalone server: the STAC API at ``/`` and the catalog's files (HTTP ranges, CORS) at ``files_prefix``."""
    catalog = StaticCatalog(catalog_dir)
    app = FastAPI(title="devscore STAC server")
    app.mount(files_prefix, StaticFiles(directory=catalog.root), name="files")
    app.mount("/", create_stac_api(StaticCatalogBackend(catalog),
                                   lambda request: f"{request.url.scheme}://{request.url.netloc}{files_prefix}"))
    app.add_middleware(CORSMiddleware, allow_origins=["*"], allow_methods=["*"], allow_headers=["*"])
    return app
