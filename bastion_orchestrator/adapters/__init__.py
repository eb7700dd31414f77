"""Driven adapters: one per outside service (AWS, Slack); each turns that service's errors
into the project's own."""
