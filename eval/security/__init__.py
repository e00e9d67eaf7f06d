"""Adversarial probes of a running handoff: fuzzed HTTP, hostile mail, kill -9, planted secrets."""
