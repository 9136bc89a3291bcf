"""The SQL of the leadership reports: fixed text, every value a bound parameter.

Reads what the archiver and alerting own (``incidents``, ``alerts``) and keeps the console's own
``reports`` table (one row per kind and period, which makes building a period twice a no-op; the
row holds the HTML and the PDF).
"""

from __future__ import annotations

from console.history_queries import NOT_REAL_WORK, RESPONSE_TIMES

__all__ = ["NOT_REAL_WORK", "RESPONSE_TIMES"]

SCHEMA_STATEMENTS: tuple[str, ...] = (
    """
    CREATE TABLE IF NOT EXISTS reports (
        id           bigserial   PRIMARY KEY,
        kind         text        NOT NULL CHECK (kind IN ('daily', 'weekly')),
        period_from  timestamptz NOT NULL,
        period_to    timestamptz NOT NULL,
        created_at   timestamptz NOT NULL DEFAULT now(),
        html_path    text        NOT NULL,
        pdf_path     text        NOT NULL,
        mailed_to    text[]      NOT NULL DEFAULT '{}',
        mail_error   text,
        mail_attempts integer    NOT NULL DEFAULT 0,
        mail_tried_at timestamptz,
        html         text,
        pdf          bytea,
        UNIQUE (kind, period_from)
    )
    """,
    # Reports kept before mails were retried.
    "ALTER TABLE reports ADD COLUMN IF NOT EXISTS mail_attempts integer NOT NULL DEFAULT 0",
    "ALTER TABLE reports ADD COLUMN IF NOT EXISTS mail_tried_at timestamptz",
    # The report itself, so every console replica serves (and mails) what any of them built; the
    # files under PANTAU_REPORTS_DIR are a copy. Rows from before this keep only their files.
    "ALTER TABLE reports ADD COLUMN IF NOT EXISTS html text",
    "ALTER TABLE reports ADD COLUMN IF NOT EXISTS pdf bytea",
)

INCIDENTS_BY_DISTRICT_TYPE = """
    SELECT coalesce(district, '') AS district, type, count(*)::bigint
    FROM incidents
    WHERE phase = 'raised' AND ts >= %(start)s AND ts < %(end)s
    GROUP BY 1, 2 ORDER BY 3 DESC, 1, 2
"""

TOP_ISSUES = """
    SELECT type, source, coalesce(district, '') AS district, count(*)::bigint, max(title)
    FROM incidents
    WHERE phase = 'raised' AND ts >= %(start)s AND ts < %(end)s
    GROUP BY type, source, 3 ORDER BY 4 DESC, 1, 2 LIMIT %(limit)s
"""

NOTABLE_ALERTS = """
    SELECT id, priority, type, source, coalesce(district, ''), status, first_seen, count,
           coalesce(doc->>'title', '')
    FROM alerts
    WHERE first_seen >= %(start)s AND first_seen < %(end)s AND priority <= %(max_priority)s
    ORDER BY priority, count DESC, first_seen LIMIT %(limit)s
"""

ADVISORY_LOCK = "SELECT pg_try_advisory_xact_lock(hashtextextended(%(key)s, 0))"

EXISTING = "SELECT id FROM reports WHERE kind = %(kind)s AND period_from = %(start)s"

INSERT_REPORT = """
    INSERT INTO reports (kind, period_from, period_to, html_path, pdf_path, mailed_to, mail_error,
                         mail_attempts, mail_tried_at, html, pdf)
    VALUES (%(kind)s, %(start)s, %(end)s, %(html_path)s, %(pdf_path)s, %(mailed_to)s, %(mail_error)s,
            %(attempts)s, %(tried_at)s, %(html)s, %(pdf)s)
    ON CONFLICT (kind, period_from) DO NOTHING
    RETURNING id
"""

LIST_REPORTS = """
    SELECT id, kind, period_from, period_to, created_at, html_path, pdf_path, mailed_to, mail_error,
           mail_attempts, mail_tried_at
    FROM reports ORDER BY period_from DESC, kind LIMIT %(limit)s
"""

GET_REPORT = """
    SELECT id, kind, period_from, period_to, created_at, html_path, pdf_path, mailed_to, mail_error,
           mail_attempts, mail_tried_at
    FROM reports WHERE id = %(id)s
"""

LATEST_PERIOD = "SELECT max(period_from) FROM reports WHERE kind = %(kind)s HAVING count(*) > 0"

DELETE_OLD = "DELETE FROM reports WHERE period_to < %(cutoff)s RETURNING html_path, pdf_path"

PATHS = "SELECT html_path, pdf_path, mailed_to, mail_error FROM reports WHERE id = %(id)s"

# The reports whose last mail failed, built since ``since`` and last tried before ``tried_before``
# (a report built while no SMTP server was configured has never been tried).
MAIL_PENDING = """
    SELECT id FROM reports
    WHERE mail_error IS NOT NULL AND created_at >= %(since)s
      AND (mail_tried_at IS NULL OR mail_tried_at <= %(tried_before)s)
    ORDER BY period_from
"""

# Locks the row for the length of one mailing, so two consoles never mail it at once; a row another
# console holds is skipped.
LOCK_FOR_MAIL = """
    SELECT kind, period_from, period_to, html_path, pdf_path, mail_error, html, pdf
    FROM reports WHERE id = %(id)s FOR UPDATE SKIP LOCKED
"""

EXISTS = "SELECT 1 FROM reports WHERE id = %(id)s"

RECORD_MAIL = """
    UPDATE reports
    SET mailed_to = %(mailed_to)s, mail_error = %(mail_error)s,
        mail_attempts = mail_attempts + 1, mail_tried_at = %(tried_at)s
    WHERE id = %(id)s
"""

# One format of a report: its content (NULL on rows from before reports were kept in the table) and
# the file name it is offered under.
CONTENT_HTML = "SELECT html, html_path FROM reports WHERE id = %(id)s"
CONTENT_PDF = "SELECT pdf, pdf_path FROM reports WHERE id = %(id)s"
