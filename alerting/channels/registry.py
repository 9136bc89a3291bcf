"""Building a channel from its configuration, and what every channel offers."""

from __future__ import annotations

from typing import Protocol, assert_never

from alerting.channels.base import DeliveryResult, Notification, WebPushSubscription
from alerting.channels.config import (
    ChannelConfig,
    NtfyChannelConfig,
    TelegramChannelConfig,
    WebhookChannelConfig,
    WebPushChannelConfig,
)
from alerting.channels.ntfy import NtfyChannel
from alerting.channels.telegram import TelegramChannel
from alerting.channels.webhook import WebhookChannel
from alerting.channels.webpush import WebPushChannel


class Channel(Protocol):
    """A delivery channel: sends one notification per call, blocking about ``timeout_s`` at most.

    ``send`` returns a :class:`DeliveryResult` or raises :class:`DeliveryError`; ``target`` is None
    for webhook, ntfy and Telegram (the config says where) and a :class:`WebPushSubscription` for
    Web Push. Every channel may be used from several threads at once. ``close`` releases its
    connections; it cannot send afterwards.
    """

    name: str

    def send(self, notification: Notification, target: WebPushSubscription | None = None) -> DeliveryResult: ...

    def close(self) -> None: ...


def build_channel(config: ChannelConfig) -> Channel:
    """The channel a configuration describes (it opens no connection yet)."""
    if isinstance(config, WebhookChannelConfig):
        return WebhookChannel(config)
    if isinstance(config, NtfyChannelConfig):
        return NtfyChannel(config)
    if isinstance(config, TelegramChannelConfig):
        return TelegramChannel(config)
    if isinstance(config, WebPushChannelConfig):
        return WebPushChannel(config)
    assert_never(config)
