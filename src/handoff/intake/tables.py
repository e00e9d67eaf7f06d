"""Tables owned by the intake feature (join `handoff.store.metadata.metadata`)."""
