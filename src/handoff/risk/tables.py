"""Tables owned by the risk feature (join `handoff.store.metadata.metadata`)."""
