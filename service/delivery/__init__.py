"""Kafka ordering and commit machinery: lanes per key, turns on in-flight places, offset
watermarks, flow control, publishing, counting and logging answers. Knows records, bytes, keys
and topics, never a command or a result: a flow hands it an `Answer` (answers.py) for each
record, through a `Turn` (lanes.py) that lets it pause and lets delivery abandon it."""
