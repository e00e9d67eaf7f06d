"""Job 1, first half: every forwarded email and meeting note lands once in the ledger, parsed and credited."""
