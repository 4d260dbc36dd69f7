"""What operators see: structured logs, Prometheus metrics, health endpoints, tracing."""
