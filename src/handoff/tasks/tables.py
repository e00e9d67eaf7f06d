"""Tables owned by the tasks feature (join `handoff.store.metadata.metadata`)."""
