"""Lifecycle rules. Knows nothing of boto3 or Slack."""
