"""Test kit: private servers (Redis, a black hole, Toxiproxy) on free loopback ports."""
