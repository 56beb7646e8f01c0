"""Every event the sans-IO cores emit or take, server and client side."""

from __future__ import annotations

from ._events import (
    AppEvent,
    Event,
    HttpOutput,
    NotificationReceived,
    RequestCancelled,
    RequestReceived,
    ResponseData,
    ResponseEnd,
    ResponseHead,
    ResponseReceived,
    SessionClosed,
)
from ._modern import SubscriptionClosed, SubscriptionOpened

__all__ = [
    "Event",
    "HttpOutput",
    "ResponseHead",
    "ResponseData",
    "ResponseEnd",
    "AppEvent",
    "RequestReceived",
    "NotificationReceived",
    "ResponseReceived",
    "RequestCancelled",
    "SessionClosed",
    "SubscriptionOpened",
    "SubscriptionClosed",
]
