"""Calls to the alerting service, which owns alerts and push subscriptions, in the signed-in person's name.

The console has checked the session (and its CSRF token) and the role; it then calls alerting with a
one-minute token in the person's name, so alerting's audit names who acted and alerting checks the
person's account too. Alerting's answer comes back unchanged (its JSON and status code; a 204 as an
empty 204); alerting unreachable is a 503, an answer without JSON a 502.
"""

from __future__ import annotations

from typing import Any, Literal

import httpx
from fastapi import HTTPException, Request, Response, status
from fastapi.responses import JSONResponse

from console.settings import Settings
from pantau.auth import Principal, issue_token

Method = Literal["GET", "POST", "DELETE"]
FORWARD_TOKEN_TTL_S = 60


def forward(
    request: Request, principal: Principal, method: Method, path: str, payload: dict[str, Any] | None = None
) -> Response:
    """Call alerting's ``path`` with ``method`` (and ``payload`` as JSON) as ``principal``."""
    settings: Settings = request.app.state.settings
    client: httpx.Client = request.app.state.alerting_client
    token = issue_token(
        request.app.state.token_secret, principal.role, principal.user, ttl_s=FORWARD_TOKEN_TTL_S, kind="user"
    )
    try:
        answer = client.request(
            method,
            path,
            json=payload,
            headers={"Authorization": f"Bearer {token}"},
            timeout=settings.alerting_timeout_s,
        )
    except httpx.HTTPError as exc:
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE, f"the alerting service cannot be reached: {exc}"
        ) from exc
    if answer.status_code == status.HTTP_204_NO_CONTENT:
        return Response(status_code=status.HTTP_204_NO_CONTENT)
    try:
        body = answer.json()
    except ValueError:
        body = {"detail": f"alerting answered {answer.status_code} without JSON"}
        return JSONResponse(body, status_code=status.HTTP_502_BAD_GATEWAY)
    return JSONResponse(body, status_code=answer.status_code)
