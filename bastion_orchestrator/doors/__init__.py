"""Driving adapters: one module per way in. Each turns its request into an authenticated
``Actor`` and one of the contract's actions and hands them to the dispatcher; none imports
the wiring or another door (``function_url`` is the HTTP transport the Slack and IAM doors
share)."""
