"""Notifications: an outbox of messages to people and feeds (rows written with the change that caused them), the
channels that carry them (webhook, e-mail, MQTT), and the dispatcher that sends them with retries."""
