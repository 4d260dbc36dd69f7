"""One `commandId`, one execution: the store protocol, the claim rule and its backends."""
