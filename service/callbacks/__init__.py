"""The inbound half: Sinch callbacks in, call events out, and what they teach the command flow."""
