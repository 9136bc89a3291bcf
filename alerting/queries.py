"""Every SQL statement of alerting, the single writer of alert state."""

from __future__ import annotations

SCHEMA_STATEMENTS: tuple[str, ...] = (
    """
    CREATE TABLE IF NOT EXISTS alerts (
        id          text        PRIMARY KEY,
        source      text        NOT NULL,
        type        text        NOT NULL,
        zone        text        NOT NULL DEFAULT '',
        status      text        NOT NULL,
        priority    smallint    NOT NULL,
        district    text,
        first_seen  timestamptz NOT NULL,
        last_seen   timestamptz NOT NULL,
        count       integer     NOT NULL,
        version     integer     NOT NULL,
        updated_at  timestamptz NOT NULL,
        doc         jsonb       NOT NULL
    )
    """,
    # At most one open alert per identity: the database enforces what the dedup logic promises.
    """
    CREATE UNIQUE INDEX IF NOT EXISTS alerts_one_open_per_identity ON alerts (source, type, zone)
        WHERE status IN ('new', 'acknowledged', 'assigned')
    """,
    "CREATE INDEX IF NOT EXISTS alerts_status_priority ON alerts (status, priority, last_seen DESC)",
    """
    CREATE TABLE IF NOT EXISTS alert_history (
        alert_id  text        NOT NULL,
        version   integer     NOT NULL,
        change    text        NOT NULL,
        actor     text        NOT NULL,
        at        timestamptz NOT NULL,
        doc       jsonb       NOT NULL,
        PRIMARY KEY (alert_id, version)
    )
    """,
    "CREATE INDEX IF NOT EXISTS alert_history_at ON alert_history (at DESC)",
    # The audit: who did what, when, and why, for every change (system changes too).
    "ALTER TABLE alert_history ADD COLUMN IF NOT EXISTS detail jsonb NOT NULL DEFAULT '{}'::jsonb",
    # Append-only: an audit that can be edited is no audit. Retention drops whole partitions, not rows.
    """
    CREATE OR REPLACE FUNCTION pantau_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        RAISE EXCEPTION 'alert_history is append-only (% refused)', TG_OP;
    END $$
    """,
    """
    DO $$ BEGIN
        IF NOT EXISTS (SELECT 1 FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
                       WHERE t.tgname = 'alert_history_append_only' AND c.relnamespace = current_schema()::regnamespace)
        THEN
            CREATE TRIGGER alert_history_append_only BEFORE UPDATE OR DELETE ON alert_history
                FOR EACH ROW EXECUTE FUNCTION pantau_audit_append_only();
        END IF;
    END $$
    """,
    # Which incident went into which alert: makes a replayed incident a no-op.
    """
    CREATE TABLE IF NOT EXISTS alert_incidents (
        incident_id text        PRIMARY KEY,
        alert_id    text,
        applied_at  timestamptz NOT NULL DEFAULT now()
    )
    """,
    "CREATE INDEX IF NOT EXISTS alert_incidents_alert ON alert_incidents (alert_id)",
    # Transactional outbox: alert versions committed here but not yet acknowledged by Kafka.
    """
    CREATE TABLE IF NOT EXISTS alert_outbox (
        alert_id text    PRIMARY KEY,
        version  integer NOT NULL
    )
    """,
)

SEEN_INCIDENTS = "SELECT incident_id FROM alert_incidents WHERE incident_id = ANY(%s)"
LINK_INCIDENT = "INSERT INTO alert_incidents (incident_id, alert_id) VALUES (%s, %s) ON CONFLICT DO NOTHING"
OPEN_ALERTS = "SELECT doc FROM alerts WHERE status IN ('new', 'acknowledged', 'assigned')"
UPSERT_ALERT = """
    INSERT INTO alerts (id, source, type, zone, status, priority, district, first_seen, last_seen, count,
                        version, updated_at, doc)
    VALUES (%(id)s, %(source)s, %(type)s, %(zone)s, %(status)s, %(priority)s, %(district)s, %(first_seen)s,
            %(last_seen)s, %(count)s, %(version)s, %(updated_at)s, %(doc)s)
    ON CONFLICT (id) DO UPDATE SET
        status = EXCLUDED.status, priority = EXCLUDED.priority, last_seen = EXCLUDED.last_seen,
        count = EXCLUDED.count, version = EXCLUDED.version, updated_at = EXCLUDED.updated_at, doc = EXCLUDED.doc
"""
INSERT_HISTORY = """
    INSERT INTO alert_history (alert_id, version, change, actor, at, doc, detail) VALUES (%s, %s, %s, %s, %s, %s, %s)
"""
ALERT_DOC = "SELECT doc FROM alerts WHERE id = %s"
ALERT_FOR_UPDATE = "SELECT doc FROM alerts WHERE id = %s FOR UPDATE"
RECENTLY_RESOLVED = """
    SELECT doc FROM alerts WHERE status = 'resolved' AND updated_at > now() - make_interval(secs => %s)
"""
AUDIT_OF_ALERT = """
    SELECT version, change, actor, at, detail FROM alert_history WHERE alert_id = %s ORDER BY version
"""
UPSERT_OUTBOX = """
    INSERT INTO alert_outbox (alert_id, version) VALUES (%s, %s)
    ON CONFLICT (alert_id) DO UPDATE SET version = EXCLUDED.version
"""
PENDING_OUTBOX = "SELECT a.doc FROM alert_outbox o JOIN alerts a ON a.id = o.alert_id ORDER BY a.updated_at"
DELETE_OUTBOX = "DELETE FROM alert_outbox WHERE alert_id = %s AND version <= %s"
