"""Built-in CSV column mappings (YAML), loaded by `handoff.crm.mapping.load_mapping`."""
