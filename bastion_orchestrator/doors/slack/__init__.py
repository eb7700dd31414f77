"""The Slack door: signature, the acknowledging half, the deciding half, sealed jobs."""
