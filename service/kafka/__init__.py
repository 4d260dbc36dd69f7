"""The Kafka side: client options, the one adapter that touches FastStream and aiokafka
internals, and topic creation."""
