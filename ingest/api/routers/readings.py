"""``POST /api/v1/readings``: one reading or a batch, from machines holding an ``ingest`` token."""

from __future__ import annotations

import logging
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, Request, status
from fastapi.responses import JSONResponse
from kafka.errors import KafkaError as _KafkaError
from pydantic import BaseModel, TypeAdapter, ValidationError

from ingest.schemas import TOPIC_SENSOR_READINGS, SensorReading
from pantau.auth import Principal, Role
from pantau.config import format_validation_error
from pantau.dlq import DeadLetter
from pantau.kafka import DeadLetterSink, dumps
from pantau.metrics import READINGS_ACCEPTED
from pantau.timeutil import ahead_of_clock, utcnow
from pantau.webauth import require_roles

log = logging.getLogger(__name__)
router = APIRouter(prefix="/api/v1", tags=["readings"])
_reading = TypeAdapter(SensorReading)
ENDPOINT = "POST /api/v1/readings"


class Accepted(BaseModel):
    """Readings acknowledged by Kafka."""

    accepted: int


class Rejected(BaseModel):
    """Why a request was refused; nothing of it was accepted."""

    detail: str
    errors: list[dict[str, Any]] = []


def _reject(
    request: Request, status_code: int, detail: str, body: bytes, errors: list[dict[str, Any]] | None = None
) -> JSONResponse:
    sink: DeadLetterSink = request.app.state.dead_letters
    try:
        sink.send(
            DeadLetter.build(
                reason=detail if not errors else f"{detail}: {errors[:20]}",
                stage="ingest.api",
                value=body,
                endpoint=ENDPOINT,
            )
        )
    except _KafkaError:
        log.warning("could not dead-letter a rejected request: Kafka unavailable")
    return JSONResponse(Rejected(detail=detail, errors=errors or []).model_dump(), status_code=status_code)


@router.post(
    "/readings",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=Accepted,
    responses={
        400: {"model": Rejected},
        403: {"model": Rejected},
        413: {"model": Rejected},
        422: {"model": Rejected},
        503: {"model": Rejected},
    },
)
def post_readings(
    request: Request, principal: Annotated[Principal, Depends(require_roles(Role.ingest, Role.admin))]
) -> Any:
    """Accept one reading (an object) or a batch (an array); all are validated before any is produced."""
    raw: bytes = request.state.body
    settings = request.app.state.settings
    try:
        payload = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        return _reject(request, 400, f"body is not valid JSON: {exc}", raw)
    items = payload if isinstance(payload, list) else [payload]
    if not items:
        return _reject(request, 422, "empty batch", raw)
    if len(items) > settings.ingest_max_batch:
        return _reject(request, 413, f"batch of {len(items)} readings exceeds {settings.ingest_max_batch}", raw)
    readings: list[SensorReading] = []
    errors: list[dict[str, Any]] = []
    now = utcnow()
    for index, item in enumerate(items):
        try:
            reading = _reading.validate_python(item)
        except ValidationError as exc:
            errors.append({"index": index, "error": format_validation_error(exc)})
            continue
        ahead = ahead_of_clock(reading.ts, now, settings.max_clock_skew_s)
        if ahead is not None:
            errors.append({"index": index, "error": f"ts: {ahead}"})
        readings.append(reading)
    if errors:
        return _reject(request, 422, f"{len(errors)} of {len(items)} readings are invalid", raw, errors)
    refused = sorted({r.sensor_id for r in readings if not principal.may_send(r.sensor_id)})
    if refused:
        shown = ", ".join(refused[:20]) + (f" and {len(refused) - 20} more" if len(refused) > 20 else "")
        return _reject(request, 403, f"this token may not send readings of {shown}", raw)
    producer = request.app.state.producer
    topic = settings.topic(TOPIC_SENSOR_READINGS)
    try:
        futures = [producer.send(topic, key=r.key(), value=dumps(r)) for r in readings]
        for future in futures:
            future.get(timeout=settings.ingest_ack_timeout_s)
    except (_KafkaError, TimeoutError) as exc:
        log.warning("Kafka did not acknowledge %d readings: %s", len(readings), exc)
        return JSONResponse(
            Rejected(detail="Kafka is unavailable; retry later").model_dump(),
            status_code=503,
            headers={"Retry-After": "5"},
        )
    READINGS_ACCEPTED.labels("http").inc(len(readings))
    if log.isEnabledFor(logging.DEBUG):  # a list of ids per request is only worth building when asked for
        log.debug(
            "accepted %d readings",
            len(readings),
            extra={"correlation_ids": [reading.correlation_id for reading in readings]},
        )
    return Accepted(accepted=len(readings))
