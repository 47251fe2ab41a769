"""Delivery channels: one module per way of reaching people, all behind `Channel`."""

from hub.channels.base import Channel, DeliveryResult, Notification, Recipient

__all__ = ["Channel", "DeliveryResult", "Notification", "Recipient"]
