"""Accepted tasks out to Jira, Asana and Trello: pure payloads per vendor, one HTTP client, a durable outbox."""
