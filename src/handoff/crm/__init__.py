"""The CRM side: the data dictionary, CSV imports with YAML mappings, and the demo CRM history."""
