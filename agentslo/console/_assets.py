"""Every file the console and /docs load, served by the service itself: nothing from a CDN, so both
work with no network.

- /assets/console/: the console's own stylesheet and script (static/ beside this module);
- /assets/plotly/plotly.min.js: plotly.js, the bundle the `plotly` package ships;
- /assets/swagger-ui/: Swagger UI's dist, as the `swagger-ui-bundle-v2` package ships it.
"""

from __future__ import annotations

from pathlib import Path

import plotly
from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse
from fastapi.staticfiles import StaticFiles
from swagger_ui_bundle import swagger_ui_path

CONSOLE_STATIC = Path(__file__).with_name("static")
PLOTLY_JS = Path(plotly.__file__).with_name("package_data") / "plotly.min.js"
SWAGGER_UI = Path(str(swagger_ui_path))


def serve_assets(app: FastAPI) -> None:
    """Mount the console's assets and serve /docs from the local Swagger UI (the app is made with
    docs_url=None and redoc_url=None, whose defaults load it from a CDN)."""
    app.mount("/assets/console", StaticFiles(directory=CONSOLE_STATIC), name="console-assets")
    app.mount("/assets/swagger-ui", StaticFiles(directory=SWAGGER_UI), name="swagger-ui-assets")

    @app.get("/assets/plotly/plotly.min.js", include_in_schema=False)
    async def plotly_js() -> FileResponse:
        return FileResponse(PLOTLY_JS, media_type="text/javascript")

    @app.get("/docs", include_in_schema=False)
    async def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=app.openapi_url or "/openapi.json", title=f"{app.title}: API",
            swagger_js_url="/assets/swagger-ui/swagger-ui-bundle.js",
            swagger_css_url="/assets/swagger-ui/swagger-ui.css",
            swagger_favicon_url="/assets/swagger-ui/favicon-32x32.png",
        )
