"""Tables owned by the access feature (join `handoff.store.metadata.metadata`)."""
