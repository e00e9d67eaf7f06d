"""Suggested tasks, the review queue, and reviewers' corrections kept as labels."""
