"""The delivery engine: per-call lanes, offset watermarks, idempotency, publishing.

Flow of one record (see ../shared/design/style.md): read → lane of its key (offset order) →
in-flight slot → decode, expiry, idempotency claim → Sinch → result (+ snapshot, dead letter)
acknowledged by Kafka → offset done → partition watermark advances → periodic commit.
"""
