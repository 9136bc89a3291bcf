"""The archiver's raw hypertables and their idempotent batch inserts (the history rollups and their
merges are in ``archive/rollups.py``, retention in ``archive/retention.py``)."""

from __future__ import annotations

SCHEMA_STATEMENTS: tuple[str, ...] = (
    """
    CREATE TABLE IF NOT EXISTS sensor_readings (
        ts          timestamptz      NOT NULL,
        sensor_id   text             NOT NULL,
        kind        text             NOT NULL,
        value       double precision NOT NULL,
        unit        text             NOT NULL,
        lat         double precision,
        lon         double precision,
        district    text,
        PRIMARY KEY (sensor_id, ts)
    )
    """,
    "SELECT create_hypertable('sensor_readings', by_range('ts', INTERVAL '1 day'), if_not_exists => TRUE)",
    "CREATE INDEX IF NOT EXISTS sensor_readings_kind_ts ON sensor_readings (kind, ts DESC)",
    "CREATE INDEX IF NOT EXISTS sensor_readings_district_ts ON sensor_readings (district, ts DESC)",
    """
    CREATE TABLE IF NOT EXISTS incidents (
        ts           timestamptz      NOT NULL,
        id           text             NOT NULL,
        type         text             NOT NULL,
        source       text             NOT NULL,
        source_kind  text             NOT NULL,
        rule         text             NOT NULL,
        phase        text             NOT NULL,
        severity     text             NOT NULL,
        confidence   double precision NOT NULL,
        zone         text,
        lat          double precision,
        lon          double precision,
        district     text,
        title        text             NOT NULL,
        evidence     jsonb            NOT NULL,
        detected_at  timestamptz      NOT NULL,
        PRIMARY KEY (id, ts)
    )
    """,
    "SELECT create_hypertable('incidents', by_range('ts', INTERVAL '7 days'), if_not_exists => TRUE)",
    # Since the object detectors: a camera incident without object confirmation has no confidence, and
    # one with it names the object's class. Both are idempotent on a database made before.
    "ALTER TABLE incidents ALTER COLUMN confidence DROP NOT NULL",
    "ALTER TABLE incidents ADD COLUMN IF NOT EXISTS object_class text",
    "CREATE INDEX IF NOT EXISTS incidents_type_ts ON incidents (type, ts DESC)",
    "CREATE INDEX IF NOT EXISTS incidents_source_ts ON incidents (source, ts DESC)",
    "CREATE INDEX IF NOT EXISTS incidents_district_ts ON incidents (district, ts DESC)",
    # Every crossing of a camera's counting line (``pantau.line-crossings.v1``): what the planners'
    # vehicle and people counts are made of. The id derives from the crossing (camera, line, object,
    # frame time), so a replay of either side stores nothing twice.
    """
    CREATE TABLE IF NOT EXISTS line_crossings (
        ts           timestamptz      NOT NULL,
        id           text             NOT NULL,
        camera       text             NOT NULL,
        line         text             NOT NULL,
        direction    text             NOT NULL,
        object_class text,
        score        double precision,
        object_id    bigint           NOT NULL,
        lat          double precision,
        lon          double precision,
        district     text,
        PRIMARY KEY (id, ts)
    )
    """,
    "SELECT create_hypertable('line_crossings', by_range('ts', INTERVAL '7 days'), if_not_exists => TRUE)",
    "CREATE INDEX IF NOT EXISTS line_crossings_camera_ts ON line_crossings (camera, line, ts DESC)",
)

READINGS_STAGE = """
    CREATE TEMP TABLE IF NOT EXISTS readings_stage (LIKE sensor_readings INCLUDING DEFAULTS) ON COMMIT DELETE ROWS
"""
COPY_READINGS = "COPY readings_stage (ts, sensor_id, kind, value, unit, lat, lon, district) FROM STDIN"
MERGE_READINGS = """
    INSERT INTO sensor_readings SELECT * FROM readings_stage ON CONFLICT (sensor_id, ts) DO NOTHING
"""

INCIDENTS_STAGE = """
    CREATE TEMP TABLE IF NOT EXISTS incidents_stage (LIKE incidents INCLUDING DEFAULTS) ON COMMIT DELETE ROWS
"""
COPY_INCIDENTS = """
    COPY incidents_stage (ts, id, type, source, source_kind, rule, phase, severity, confidence, zone,
                          lat, lon, district, title, evidence, detected_at, object_class) FROM STDIN
"""
MERGE_INCIDENTS = "INSERT INTO incidents SELECT * FROM incidents_stage ON CONFLICT (id, ts) DO NOTHING"

CROSSINGS_STAGE = """
    CREATE TEMP TABLE IF NOT EXISTS crossings_stage (LIKE line_crossings INCLUDING DEFAULTS) ON COMMIT DELETE ROWS
"""
CROSSING_COLUMNS = "ts, id, camera, line, direction, object_class, score, object_id, lat, lon, district"
COPY_CROSSINGS = f"COPY crossings_stage ({CROSSING_COLUMNS}) FROM STDIN"
MERGE_CROSSINGS = f"""
    INSERT INTO line_crossings ({CROSSING_COLUMNS}) SELECT {CROSSING_COLUMNS} FROM crossings_stage
    ON CONFLICT (id, ts) DO NOTHING
"""
