"""Plans out: a project and its kickoff estimate as files planning tools open (Microsoft Project's MSPDI XML)."""
