"""Every SQL statement of the console (read-only over the tables alerting and the archiver own).

Filters are fixed fragments joined with AND; every value is a bound parameter.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

_LIST_BASE = "SELECT doc FROM alerts"
_ORDER = " ORDER BY last_seen DESC, id DESC LIMIT %(limit)s"
OPEN_STATUSES = ("new", "acknowledged", "assigned")

# A responder sees what was assigned or pushed to them or to their groups (%(groups)s, a text[]), or
# what they acknowledged, nothing else.
_ROUTED_TO_USER = """(
    doc->>'assignee' = %(user)s
    OR doc->'responders' ? %(user)s
    OR doc->>'assignee' = ANY(%(groups)s::text[])
    OR doc->'responders' ?| %(groups)s::text[]
    OR doc->>'acknowledged_by' = %(user)s
    OR EXISTS (SELECT 1 FROM alert_deliveries d WHERE d.alert_id = alerts.id AND d.recipient = %(user)s)
)"""


@dataclass
class AlertFilters:
    """The filters of ``GET /api/v1/alerts``; empty lists mean any."""

    statuses: list[str] = field(default_factory=list)
    priorities: list[int] = field(default_factory=list)
    types: list[str] = field(default_factory=list)
    districts: list[str] = field(default_factory=list)
    since: datetime | None = None
    until: datetime | None = None
    routed_to: str | None = None
    routed_groups: list[str] = field(default_factory=list)  # the responder's groups (with routed_to)
    after: tuple[datetime, str] | None = None  # keyset cursor: (last_seen, id) of the last row seen
    limit: int = 100


def list_alerts(filters: AlertFilters) -> tuple[str, dict[str, Any]]:
    """The statement and its parameters for one page of alerts, newest first."""
    clauses: list[str] = []
    params: dict[str, Any] = {"limit": filters.limit}
    if filters.statuses:
        clauses.append("status = ANY(%(statuses)s)")
        params["statuses"] = filters.statuses
    if filters.priorities:
        clauses.append("priority = ANY(%(priorities)s)")
        params["priorities"] = filters.priorities
    if filters.types:
        clauses.append("type = ANY(%(types)s)")
        params["types"] = filters.types
    if filters.districts:
        clauses.append("district = ANY(%(districts)s)")
        params["districts"] = filters.districts
    if filters.since is not None:
        clauses.append("last_seen >= %(since)s")
        params["since"] = filters.since
    if filters.until is not None:
        clauses.append("first_seen < %(until)s")
        params["until"] = filters.until
    if filters.routed_to is not None:
        clauses.append(_ROUTED_TO_USER)
        params["user"], params["groups"] = filters.routed_to, filters.routed_groups
    if filters.after is not None:
        clauses.append("(last_seen, id) < (%(after_ts)s, %(after_id)s)")
        params["after_ts"], params["after_id"] = filters.after
    where = (" WHERE " + " AND ".join(clauses)) if clauses else ""
    return _LIST_BASE + where + _ORDER, params


ALERT = "SELECT doc FROM alerts WHERE id = %(id)s"
ALERT_ROUTED = "SELECT doc FROM alerts WHERE id = %(id)s AND " + _ROUTED_TO_USER
RELATED = "SELECT doc FROM alerts WHERE id = ANY(%(ids)s) ORDER BY last_seen DESC"
INCIDENTS_OF_ALERT = """
    SELECT i.id, i.ts, i.type, i.source, i.phase, i.severity, i.confidence, i.zone, i.title,
           i.evidence - 'snapshot_jpeg_b64' AS evidence,
           (i.evidence ? 'snapshot_jpeg_b64' OR i.evidence ? 'photo_id') AS has_snapshot,
           i.object_class
    FROM alert_incidents l JOIN incidents i ON i.id = l.incident_id
    WHERE l.alert_id = %(id)s
    ORDER BY i.ts DESC
    LIMIT 200
"""
AUDIT = "SELECT version, change, actor, at, detail FROM alert_history WHERE alert_id = %(id)s ORDER BY version"
DELIVERIES = """
    SELECT id, kind, channel, recipient, status, attempts, last_error, created_at, sent_at
    FROM alert_deliveries WHERE alert_id = %(id)s ORDER BY created_at, id
"""

# A photo from the scene that came with a note (alerting's alert_photos).
SCENE_PHOTO = "SELECT jpeg, actor FROM alert_photos WHERE id = %(photo)s AND alert_id = %(alert)s"
EVIDENCE_OF_INCIDENT = """
    SELECT evidence->>'snapshot_jpeg_b64', evidence->>'clip', source, evidence->>'snapshot', evidence->>'photo_id'
    FROM incidents WHERE id = %(id)s LIMIT 1
"""
# A caller's photo of a manual report (alerting keeps it in alert_photos, the incident names it).
REPORT_PHOTO = "SELECT jpeg FROM alert_photos WHERE id::text = %(photo)s"
# A responder's evidence is that of the alerts that are theirs (the same scope as the alert detail).
INCIDENT_ROUTED = (
    "SELECT 1 FROM alert_incidents l JOIN alerts ON alerts.id = l.alert_id WHERE l.incident_id = %(incident)s AND "
    + _ROUTED_TO_USER
    + " LIMIT 1"
)
# Evidence is personal data (UU 27/2022): every view or download is recorded, and admins read the record.
EVIDENCE_ACCESS_SCHEMA = """
    CREATE TABLE IF NOT EXISTS evidence_access (
        at          timestamptz NOT NULL DEFAULT now(),
        user_id     text        NOT NULL,
        role        text        NOT NULL,
        incident_id text        NOT NULL,
        kind        text        NOT NULL,
        source      text
    )
"""
EVIDENCE_ACCESS_INDEX = "CREATE INDEX IF NOT EXISTS evidence_access_at ON evidence_access (at DESC)"
RECORD_EVIDENCE_ACCESS = """
    INSERT INTO evidence_access (user_id, role, incident_id, kind, source)
    VALUES (%(user)s, %(role)s, %(incident)s, %(kind)s, %(source)s)
"""
EVIDENCE_ACCESS_LOG = """
    SELECT at, user_id, role, incident_id, kind, source FROM evidence_access
    WHERE (%(user)s::text IS NULL OR user_id = %(user)s) ORDER BY at DESC LIMIT %(limit)s
"""

# -- the console's own records: audit of people's actions, cases, shift handovers -------------------
CONSOLE_SCHEMA = (
    EVIDENCE_ACCESS_SCHEMA,
    EVIDENCE_ACCESS_INDEX,
    """
    CREATE TABLE IF NOT EXISTS console_audit (
        id        bigserial   PRIMARY KEY,
        at        timestamptz NOT NULL DEFAULT now(),
        user_name text        NOT NULL,
        role      text        NOT NULL,
        action    text        NOT NULL,
        detail    jsonb       NOT NULL DEFAULT '{}'
    )
    """,
    "CREATE INDEX IF NOT EXISTS console_audit_at ON console_audit (at DESC)",
    # Failed logins of the last window, shared by every console replica (console/ratelimit.py).
    """
    CREATE TABLE IF NOT EXISTS login_failures (
        key text        NOT NULL,
        at  timestamptz NOT NULL DEFAULT now()
    )
    """,
    "ALTER TABLE login_failures ADD COLUMN IF NOT EXISTS id bigint GENERATED BY DEFAULT AS IDENTITY",
    "CREATE INDEX IF NOT EXISTS login_failures_key_at ON login_failures (key, at DESC)",
    "CREATE INDEX IF NOT EXISTS login_failures_at ON login_failures (at)",
    """
    CREATE TABLE IF NOT EXISTS cases (
        id         text        PRIMARY KEY,
        title      text        NOT NULL,
        created_by text        NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now()
    )
    """,
    """
    CREATE TABLE IF NOT EXISTS case_alerts (
        case_id   text        NOT NULL REFERENCES cases (id) ON DELETE CASCADE,
        alert_id  text        NOT NULL,
        linked_by text        NOT NULL,
        linked_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (case_id, alert_id)
    )
    """,
    "CREATE INDEX IF NOT EXISTS case_alerts_alert ON case_alerts (alert_id)",
    """
    CREATE TABLE IF NOT EXISTS handovers (
        id          text        PRIMARY KEY,
        author      text        NOT NULL,
        text        text        NOT NULL,
        open_alerts integer     NOT NULL,
        created_at  timestamptz NOT NULL DEFAULT now(),
        signed_by   text,
        signed_at   timestamptz
    )
    """,
    "CREATE INDEX IF NOT EXISTS handovers_at ON handovers (created_at DESC)",
)
RECORD_AUDIT = """
    INSERT INTO console_audit (user_name, role, action, detail) VALUES (%(user)s, %(role)s, %(action)s, %(detail)s)
"""
AUDIT_LOG = """
    SELECT at, user_name, role, action, detail FROM console_audit
    WHERE (%(user)s::text IS NULL OR user_name = %(user)s) ORDER BY at DESC, id DESC LIMIT %(limit)s
"""
INSERT_CASE = "INSERT INTO cases (id, title, created_by) VALUES (%(id)s, %(title)s, %(user)s)"
LINK_CASE_ALERT = """
    INSERT INTO case_alerts (case_id, alert_id, linked_by) VALUES (%(case)s, %(alert)s, %(user)s)
    ON CONFLICT DO NOTHING
"""
CASES = """
    SELECT c.id, c.title, c.created_by, c.created_at,
           coalesce(array_agg(a.alert_id ORDER BY a.linked_at, a.alert_id)
                    FILTER (WHERE a.alert_id IS NOT NULL), '{}')
    FROM cases c LEFT JOIN case_alerts a ON a.case_id = c.id
    WHERE (%(id)s::text IS NULL OR c.id = %(id)s)
      AND (%(alert)s::text IS NULL OR c.id IN (SELECT case_id FROM case_alerts WHERE alert_id = %(alert)s))
    GROUP BY c.id ORDER BY c.created_at DESC LIMIT %(limit)s
"""
EXISTING_ALERTS = "SELECT id FROM alerts WHERE id = ANY(%(ids)s)"
INSERT_HANDOVER = """
    INSERT INTO handovers (id, author, text, open_alerts) VALUES (%(id)s, %(user)s, %(text)s, %(open)s)
    RETURNING id, author, text, open_alerts, created_at, signed_by, signed_at
"""
HANDOVERS = """
    SELECT id, author, text, open_alerts, created_at, signed_by, signed_at FROM handovers
    ORDER BY created_at DESC LIMIT %(limit)s
"""
HANDOVER = "SELECT id, author, text, open_alerts, created_at, signed_by, signed_at FROM handovers WHERE id = %(id)s"
SIGN_HANDOVER = """
    UPDATE handovers SET signed_by = %(user)s, signed_at = now()
    WHERE id = %(id)s AND signed_by IS NULL AND author <> %(user)s
    RETURNING id, author, text, open_alerts, created_at, signed_by, signed_at
"""

# -- live sensor values (the archiver's hypertable), downsampled for sparklines ---------------------
SENSOR_LATEST = """
    SELECT DISTINCT ON (sensor_id) sensor_id, kind, unit, value, ts, district FROM sensor_readings
    WHERE ts > now() - make_interval(mins => %(minutes)s) ORDER BY sensor_id, ts DESC
"""
SENSOR_SERIES = """
    SELECT sensor_id, time_bucket(make_interval(secs => %(bucket_s)s), ts) AS bucket, avg(value)
    FROM sensor_readings WHERE ts > now() - make_interval(mins => %(minutes)s)
    GROUP BY sensor_id, bucket ORDER BY sensor_id, bucket
"""

# -- login throttling (console/ratelimit.py) ---------------------------------------------------------
# How many of the key's failures are in the window (at most ``limit``), and the seconds until the
# oldest of those ``limit`` most recent ones leaves it.
LOGIN_FAILURES_RECENT = """
    SELECT count(*), coalesce(extract(epoch FROM min(at) + make_interval(secs => %(window_s)s) - now()), 0)
    FROM (
        SELECT at FROM login_failures
        WHERE key = %(key)s AND at > now() - make_interval(secs => %(window_s)s)
        ORDER BY at DESC LIMIT %(limit)s
    ) recent
"""

LOGIN_FAILED = "INSERT INTO login_failures (key) SELECT unnest(%(keys)s::text[]) RETURNING id"

# Serialises the check-and-count of attempts on one key across connections and replicas.
LOGIN_KEY_LOCK = "SELECT pg_advisory_xact_lock(hashtextextended('pantau-login:' || %(key)s, 0))"

LOGIN_RESERVED_TAKEN_BACK = "DELETE FROM login_failures WHERE id = ANY(%(ids)s::bigint[])"

LOGIN_FAILURES_FORGET_OLD = "DELETE FROM login_failures WHERE at <= now() - make_interval(secs => %(window_s)s)"

LOGIN_SUCCEEDED = "DELETE FROM login_failures WHERE key = ANY(%(keys)s::text[])"
