"""Tables owned by the alerts feature (join `handoff.store.metadata.metadata`)."""
