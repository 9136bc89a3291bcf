"""Delivery channels of the alerting stage: webhook, ntfy, Telegram and Web Push.

::

    channel = build_channel(config)               # config: one of ChannelConfig
    result = channel.send(notification, target)   # DeliveryResult, or raises DeliveryError
"""

from __future__ import annotations

from alerting.channels.base import (
    DeliveryError,
    DeliveryResult,
    Notification,
    NotificationKind,
    WebPushKeys,
    WebPushSubscription,
    is_retryable_status,
    parse_retry_after,
    retry_delay_s,
)
from alerting.channels.config import (
    ChannelConfig,
    NtfyChannelConfig,
    TelegramChannelConfig,
    WebhookChannelConfig,
    WebPushChannelConfig,
    generate_vapid_keys,
    load_vapid_private_key,
    parse_channel_config,
    vapid_public_key,
)
from alerting.channels.ntfy import NtfyChannel
from alerting.channels.registry import Channel, build_channel
from alerting.channels.telegram import TelegramChannel
from alerting.channels.webhook import WebhookChannel, sign_webhook, verify_signature
from alerting.channels.webpush import WebPushChannel

__all__ = [
    "Channel",
    "ChannelConfig",
    "DeliveryError",
    "DeliveryResult",
    "Notification",
    "NotificationKind",
    "NtfyChannel",
    "NtfyChannelConfig",
    "TelegramChannel",
    "TelegramChannelConfig",
    "WebPushChannel",
    "WebPushChannelConfig",
    "WebPushKeys",
    "WebPushSubscription",
    "WebhookChannel",
    "WebhookChannelConfig",
    "build_channel",
    "generate_vapid_keys",
    "is_retryable_status",
    "load_vapid_private_key",
    "parse_channel_config",
    "parse_retry_after",
    "retry_delay_s",
    "sign_webhook",
    "vapid_public_key",
    "verify_signature",
]
