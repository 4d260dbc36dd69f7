"""`callctl`: the operator CLI (send commands, read results and snapshots, run the stack)."""
