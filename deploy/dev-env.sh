# shellcheck shell=bash
# Sourced by `make run`: local defaults for every CALLCTL_* setting the user did not set.
# Without real Sinch credentials in the environment, the service talks to the local simulator.
: "${CALLCTL_KAFKA__BOOTSTRAP_SERVERS:=127.0.0.1:${KAFKA_PORT:-9092}}"
: "${CALLCTL_KAFKA__CREATE_TOPICS:=true}"
: "${CALLCTL_IDEMPOTENCY__SQLITE_PATH:=.local/service/idempotency.sqlite3}"
: "${CALLCTL_LOG_FORMAT:=console}"
# Sinch's callbacks (the inbound half): on locally; the simulator rings this URL.
: "${CALLCTL_CALLBACKS__ENABLED:=true}"
: "${SIM_CALLBACK_URL:=http://127.0.0.1:${CALLCTL_CALLBACKS__PORT:-8090}/sinch/callbacks}"
if [[ -z "${CALLCTL_SINCH__APPLICATION_KEY:-}" ]]; then
    USE_SIMULATOR=1
    CALLCTL_SINCH__BASE_URL="http://127.0.0.1:${SIM_PORT:-8700}"
    CALLCTL_SINCH__APPLICATION_KEY=sim-key
    CALLCTL_SINCH__APPLICATION_SECRET=c2ltLXNlY3JldC0xMjM0NTY=
else
    USE_SIMULATOR=0
fi
export CALLCTL_KAFKA__BOOTSTRAP_SERVERS CALLCTL_KAFKA__CREATE_TOPICS CALLCTL_IDEMPOTENCY__SQLITE_PATH \
    CALLCTL_LOG_FORMAT CALLCTL_SINCH__BASE_URL CALLCTL_SINCH__APPLICATION_KEY \
    CALLCTL_SINCH__APPLICATION_SECRET USE_SIMULATOR CALLCTL_CALLBACKS__ENABLED SIM_CALLBACK_URL
