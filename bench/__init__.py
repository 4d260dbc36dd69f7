"""Benchmarks for call-control: the service against a raw aiokafka passthrough ("limit") and an
obvious FastStream handler ("naive"), on the same broker, simulator and backlog. See README.md.
"""
