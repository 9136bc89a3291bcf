"""Which alerts are a responder's: the groups alerting's routing config puts them in.

Responder ids in the ``alerting.routing.responders`` section are the people's user names. An alert
assigned to a group (or listing it among its ``responders``) is every member's, on the websocket
feed (:class:`~console.feed.ClientFilter`) and in ``GET /api/v1/alerts`` alike. The config is read
through the console's :class:`~console.configview.ConfigView`, so an edit shows without a restart.
"""

from __future__ import annotations

import logging

from starlette.requests import HTTPConnection

from console.configview import ConfigView
from pantau.auth import Principal, Role
from pantau.exceptions import ConfigError

log = logging.getLogger(__name__)


def groups_of(config_view: ConfigView, user: str) -> frozenset[str]:
    """The groups responder ``user`` belongs to (none when the config cannot be read)."""
    try:
        routing = config_view.current().alerting.alerting.routing
    except (ConfigError, OSError) as exc:
        log.warning("cannot read the routing config for %s's groups: %s", user, exc)
        return frozenset()
    return frozenset(group for person in routing.responders if person.id == user for group in person.groups)


def responder_scope(conn: HTTPConnection, principal: Principal) -> tuple[str | None, frozenset[str]]:
    """``(user, groups)`` for a responder, whose view is limited to their alerts; ``(None, ∅)`` otherwise."""
    if principal.role is not Role.responder:
        return None, frozenset()
    config_view: ConfigView = conn.app.state.config_view
    return principal.user, groups_of(config_view, principal.user)
