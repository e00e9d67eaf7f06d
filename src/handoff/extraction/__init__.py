"""Job 1, second half: a message becomes tasks, each field with a confidence and its evidence sentence."""
