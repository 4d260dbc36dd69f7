"""The pure core: commands, SVAML, the plan of a request, outcome policy, decoding, results.

Imports no Kafka, HTTP, Redis or FastStream: every rule about what a command means and what an
answer means lives here, testable without I/O.
"""
