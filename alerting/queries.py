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
    # Pushes to responders: one row per (alert change, channel, recipient), written in the same
    # transaction as the alert change (the delivery outbox); the id is the receiver's idempotency key.
    """
    CREATE TABLE IF NOT EXISTS alert_deliveries (
        id              text        PRIMARY KEY,
        alert_id        text        NOT NULL,
        alert_version   integer     NOT NULL,
        kind            text        NOT NULL,
        channel         text        NOT NULL,
        recipient       text        NOT NULL,
        target          jsonb,
        priority        smallint    NOT NULL,
        status          text        NOT NULL DEFAULT 'queued',
        attempts        integer     NOT NULL DEFAULT 0,
        next_attempt_at timestamptz NOT NULL DEFAULT now(),
        last_error      text,
        created_at      timestamptz NOT NULL DEFAULT now(),
        sent_at         timestamptz,
        payload         jsonb       NOT NULL
    )
    """,
    "CREATE INDEX IF NOT EXISTS alert_deliveries_alert ON alert_deliveries (alert_id, created_at)",
    """
    CREATE INDEX IF NOT EXISTS alert_deliveries_due ON alert_deliveries (next_attempt_at)
        WHERE status IN ('queued', 'retrying')
    """,
    # Every attempt of every delivery: the delivery log operators read.
    """
    CREATE TABLE IF NOT EXISTS alert_delivery_attempts (
        delivery_id text        NOT NULL,
        attempt     integer     NOT NULL,
        at          timestamptz NOT NULL,
        outcome     text        NOT NULL,
        status_code integer,
        detail      text,
        PRIMARY KEY (delivery_id, attempt)
    )
    """,
    # Silences and maintenance windows, as operators created them (ended early: ended_at).
    """
    CREATE TABLE IF NOT EXISTS silences (
        id          text        PRIMARY KEY,
        starts_at   timestamptz NOT NULL,
        ends_at     timestamptz NOT NULL,
        ended_at    timestamptz,
        created_by  text        NOT NULL,
        created_at  timestamptz NOT NULL,
        doc         jsonb       NOT NULL
    )
    """,
    # Where each alert's escalation chain stands (open, unacknowledged alerts that were routed).
    """
    CREATE TABLE IF NOT EXISTS alert_routing (
        alert_id         text        PRIMARY KEY,
        route            integer     NOT NULL,
        level            integer     NOT NULL,
        notified_at      timestamptz NOT NULL,
        last_reminder_at timestamptz,
        priority         smallint    NOT NULL
    )
    """,
    # When the chain next has something to do: the timer reads only what is due.
    "ALTER TABLE alert_routing ADD COLUMN IF NOT EXISTS next_due_at timestamptz",
    "CREATE INDEX IF NOT EXISTS alert_routing_due ON alert_routing (next_due_at) WHERE next_due_at IS NOT NULL",
    # Browsers that subscribed to Web Push, per user.
    """
    CREATE TABLE IF NOT EXISTS push_subscriptions (
        endpoint   text        PRIMARY KEY,
        user_id    text        NOT NULL,
        p256dh     text        NOT NULL,
        auth       text        NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now()
    )
    """,
    # The offset after the newest alert change Kafka confirmed: at start-up, a topic that goes further
    # than this holds changes the database does not (restored from a backup), see alerting/reconcile.py.
    """
    CREATE TABLE IF NOT EXISTS alert_topic_position (
        topic       text   PRIMARY KEY,
        next_offset bigint NOT NULL
    )
    """,
    # Transactional outbox: alert versions committed here but not yet acknowledged by Kafka.
    """
    CREATE TABLE IF NOT EXISTS alert_outbox (
        alert_id text    PRIMARY KEY,
        version  integer NOT NULL
    )
    """,
    # Photos from the scene that came with a note (the note's audit detail names the photo id).
    """
    CREATE TABLE IF NOT EXISTS alert_photos (
        id       uuid        PRIMARY KEY,
        alert_id text        NOT NULL,
        actor    text        NOT NULL,
        at       timestamptz NOT NULL,
        jpeg     bytea       NOT NULL
    )
    """,
    "CREATE INDEX IF NOT EXISTS alert_photos_alert ON alert_photos (alert_id)",
)

SEEN_INCIDENTS = "SELECT incident_id FROM alert_incidents WHERE incident_id = ANY(%s)"
ALERT_OF_INCIDENT = "SELECT a.doc FROM alert_incidents i JOIN alerts a ON a.id = i.alert_id WHERE i.incident_id = %s"
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
# True when every change of the alert after a version is a note (None: no change after it).
ONLY_NOTES_SINCE = "SELECT bool_and(change = 'noted') FROM alert_history WHERE alert_id = %s AND version > %s"
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

INSERT_DELIVERY = """
    INSERT INTO alert_deliveries (id, alert_id, alert_version, kind, channel, recipient, target, priority, payload)
    VALUES (%(id)s, %(alert_id)s, %(alert_version)s, %(kind)s, %(channel)s, %(recipient)s, %(target)s,
            %(priority)s, %(payload)s)
    ON CONFLICT (id) DO NOTHING
"""
DUE_DELIVERIES = """
    SELECT id, alert_id, kind, channel, recipient, target, priority, attempts, payload
    FROM alert_deliveries
    WHERE status IN ('queued', 'retrying') AND next_attempt_at <= now() AND NOT (id = ANY(%s))
    ORDER BY priority, next_attempt_at
    LIMIT %s
"""
RECORD_ATTEMPT = """
    INSERT INTO alert_delivery_attempts (delivery_id, attempt, at, outcome, status_code, detail)
    VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING
"""
UPDATE_DELIVERY = """
    UPDATE alert_deliveries SET status = %s, attempts = %s, next_attempt_at = %s, last_error = %s,
        sent_at = CASE WHEN %s = 'sent' THEN %s ELSE sent_at END
    WHERE id = %s
"""
DELIVERIES_OF_ALERT = """
    SELECT id, alert_version, kind, channel, recipient, status, attempts, last_error, created_at, sent_at
    FROM alert_deliveries WHERE alert_id = %s ORDER BY created_at, id
"""
ATTEMPTS_OF_ALERT = """
    SELECT a.delivery_id, a.attempt, a.at, a.outcome, a.status_code, a.detail
    FROM alert_delivery_attempts a JOIN alert_deliveries d ON d.id = a.delivery_id
    WHERE d.alert_id = %s ORDER BY a.at, a.attempt
"""
NOTIFIED_RECIPIENTS = """
    SELECT DISTINCT channel, recipient, target FROM alert_deliveries
    WHERE alert_id = %s AND kind <> 'stand_down' AND status IN ('sent', 'queued', 'retrying')
"""

LIVE_SILENCES = "SELECT doc FROM silences WHERE ended_at IS NULL AND ends_at > now() ORDER BY starts_at"
ALL_SILENCES = """
    SELECT doc FROM silences WHERE COALESCE(ended_at, ends_at) > now() - make_interval(secs => %s)
    ORDER BY starts_at DESC
"""
SILENCE_DOC = "SELECT doc FROM silences WHERE id = %s FOR UPDATE"
INSERT_SILENCE = """
    INSERT INTO silences (id, starts_at, ends_at, ended_at, created_by, created_at, doc)
    VALUES (%(id)s, %(starts_at)s, %(ends_at)s, %(ended_at)s, %(created_by)s, %(created_at)s, %(doc)s)
    ON CONFLICT (id) DO UPDATE SET ended_at = EXCLUDED.ended_at, doc = EXCLUDED.doc
"""

ROUTING_STATES = """
    SELECT alert_id, route, level, notified_at, last_reminder_at, priority FROM alert_routing WHERE alert_id = ANY(%s)
"""
DUE_ROUTING_STATES = """
    SELECT alert_id, route, level, notified_at, last_reminder_at, priority FROM alert_routing WHERE next_due_at <= %s
"""
UPSERT_ROUTING = """
    INSERT INTO alert_routing (alert_id, route, level, notified_at, last_reminder_at, priority, next_due_at)
    VALUES (%s, %s, %s, %s, %s, %s, %s)
    ON CONFLICT (alert_id) DO UPDATE SET route = EXCLUDED.route, level = EXCLUDED.level,
        notified_at = EXCLUDED.notified_at, last_reminder_at = EXCLUDED.last_reminder_at, priority = EXCLUDED.priority,
        next_due_at = EXCLUDED.next_due_at
"""
# Whether an alert was pushed to any of these recipients (a responder and their groups).
SENT_TO = "SELECT EXISTS (SELECT 1 FROM alert_deliveries WHERE alert_id = %s AND recipient = ANY(%s))"
# A manual report's photo is stored under its incident id first, then moved to the alert it opened.
PHOTO_OF_ALERT = "UPDATE alert_photos SET alert_id = %s WHERE id = %s"
INSERT_PHOTO = "INSERT INTO alert_photos (id, alert_id, actor, at, jpeg) VALUES (%s, %s, %s, %s, %s)"
SET_NEXT_DUE = "UPDATE alert_routing SET next_due_at = %s WHERE alert_id = %s"
DELETE_ROUTING = "DELETE FROM alert_routing WHERE alert_id = %s"
SUBSCRIPTIONS = "SELECT user_id, endpoint, p256dh, auth FROM push_subscriptions ORDER BY created_at"
# A subscription stays its user's: another user's upsert of the same endpoint changes no row.
UPSERT_SUBSCRIPTION = """
    INSERT INTO push_subscriptions (endpoint, user_id, p256dh, auth) VALUES (%s, %s, %s, %s)
    ON CONFLICT (endpoint) DO UPDATE SET p256dh = EXCLUDED.p256dh, auth = EXCLUDED.auth, created_at = now()
    WHERE push_subscriptions.user_id = EXCLUDED.user_id
"""
# The user's newest subscriptions are kept, up to the cap.
TRIM_SUBSCRIPTIONS = """
    DELETE FROM push_subscriptions WHERE user_id = %s AND endpoint NOT IN (
        SELECT endpoint FROM push_subscriptions WHERE user_id = %s ORDER BY created_at DESC LIMIT %s
    )
"""
DELETE_SUBSCRIPTION = "DELETE FROM push_subscriptions WHERE endpoint = %s"
DELETE_USER_SUBSCRIPTION = "DELETE FROM push_subscriptions WHERE endpoint = %s AND user_id = %s"
STILL_DUE = """
    SELECT a.status FROM alert_deliveries d JOIN alerts a ON a.id = d.alert_id
    WHERE d.id = %s AND d.status IN ('queued', 'retrying') AND d.attempts = %s
"""

TOPIC_POSITION = "SELECT next_offset FROM alert_topic_position WHERE topic = %(topic)s"
SAVE_TOPIC_POSITION = """
    INSERT INTO alert_topic_position (topic, next_offset) VALUES (%(topic)s, %(next_offset)s)
    ON CONFLICT (topic) DO UPDATE SET next_offset = greatest(alert_topic_position.next_offset, EXCLUDED.next_offset)
"""
