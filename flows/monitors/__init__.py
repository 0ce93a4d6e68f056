"""The monitoring flows: thin Prefect shells around ``slack_alerts.checks``."""
