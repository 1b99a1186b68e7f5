"""The clerks' web page (placeholder until the page lands)."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.responses import HTMLResponse


def add_pages(app: FastAPI) -> None:
    @app.get("/", include_in_schema=False, response_class=HTMLResponse)
    async def index() -> str:
        return "<!doctype html><title>mynacard</title><p>mynacard</p>"
