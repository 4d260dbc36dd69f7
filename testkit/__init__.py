"""Shared support for tests, the benchmarks and the static checks: processes (the simulator,
the service), unique topics, Kafka helpers, and import-linter's extra contract type."""
