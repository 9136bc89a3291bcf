"""FastAPI dependencies of the console."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from psycopg_pool import ConnectionPool

from console.feed import AlertFeed
from console.store import ConsoleStore


def get_feed(request: Request) -> AlertFeed:
    feed: AlertFeed = request.app.state.feed
    return feed


Feed = Annotated[AlertFeed, Depends(get_feed)]


def get_pool(request: Request) -> ConnectionPool:
    pool: ConnectionPool = request.app.state.pool
    return pool


Pool = Annotated[ConnectionPool, Depends(get_pool)]


def get_store(request: Request) -> ConsoleStore:
    store: ConsoleStore = request.app.state.store
    return store


Store = Annotated[ConsoleStore, Depends(get_store)]
