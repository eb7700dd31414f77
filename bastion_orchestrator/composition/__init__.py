"""The composition root (``Root``), in three layers: AWS adapters, Slack adapters and
presenters, then the use cases and the doors."""

from bastion_orchestrator.composition.root import Root

__all__ = ["Root"]
