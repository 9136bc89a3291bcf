"""FastAPI dependencies of the console."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from console.feed import AlertFeed


def get_feed(request: Request) -> AlertFeed:
    feed: AlertFeed = request.app.state.feed
    return feed


Feed = Annotated[AlertFeed, Depends(get_feed)]
