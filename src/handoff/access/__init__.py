"""Who may do what: API keys with roles, contact-data masking, and the audit log."""
