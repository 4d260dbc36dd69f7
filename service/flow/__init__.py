"""One command's flow: a record in, one `Answer` out (result, snapshot, dead letter).

Steps in order: decode, claim the commandId, check expiry, plan, execute against Sinch with the
retry policy, store the result. The delivery layer decides when it runs; this decides what.
"""
