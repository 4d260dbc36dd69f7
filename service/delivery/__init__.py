"""Kafka ordering and commit machinery: lanes per key, in-flight places, offset watermarks,
flow control, publishing. Knows records and bytes, never a command or a result."""
