"""Settings of the MQTT bridge deployable (the broker and mappings live in the config file's ``mqtt:``)."""

from __future__ import annotations

from pydantic import Field, SecretStr

from pantau.settings import CommonSettings


class Settings(CommonSettings):
    """How long Kafka may take to acknowledge, and the broker password kept out of the config file."""

    mqtt_password: SecretStr | None = Field(
        None, description="MQTT broker password; overrides mqtt.password of the config file"
    )
    mqtt_delivery_timeout_s: float = Field(
        30.0,
        gt=1,
        description=(
            "How long Kafka may take to acknowledge a reading before the bridge gives up on it, drops the "
            "MQTT session and lets the broker redeliver the unacknowledged messages"
        ),
    )
