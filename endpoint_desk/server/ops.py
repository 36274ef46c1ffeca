"""Operations routes: ``GET /health`` (the server answers and the store can be read; no
key needed) and ``GET /metrics`` (Prometheus text, ``server/metrics.py``)."""

from __future__ import annotations

from aiohttp import web

from endpoint_desk.core.errors import DeskError
from endpoint_desk.engine.desk import Desk
from endpoint_desk.server.metrics import CONTENT_TYPE as METRICS_TYPE
from endpoint_desk.server.metrics import MetricsExporter
from endpoint_desk.server.responses import json_response


class Ops:
    """The health and metrics handlers of one desk."""

    def __init__(self, desk: Desk, exporter: MetricsExporter) -> None:
        self.desk = desk
        self.exporter = exporter

    async def health(self, request: web.Request) -> web.Response:
        """``GET /health``: the server answers and the store can be read."""
        views = self.desk.endpoints()
        serving = sum(1 for v in views if v.state.serving)
        try:
            await self.desk.store.schema_version()
            store_ok = True
        except DeskError:
            store_ok = False
        data = {
            "status": "ok" if store_ok else "degraded",
            "store": "ok" if store_ok else "unavailable",
            "endpoints": len(views),
            "serving": serving,
        }
        return json_response(data, status=200 if store_ok else 503)

    async def metrics(self, request: web.Request) -> web.Response:
        """``GET /metrics``: Prometheus text format."""
        return web.Response(body=self.exporter.render(), headers={"Content-Type": METRICS_TYPE})
