"""The EC2 compute backend: an order made an instance (``compute``: image, type, subnets,
tags; ``boot``: its user data), our bastions found and ended (``instances``), their forensic
snapshots (``snapshots``), and why one's agent may not reach SSM (``reachability``)."""

from __future__ import annotations

from bastion_orchestrator.adapters.aws.ec2.instances import Ec2Instances
from bastion_orchestrator.adapters.aws.ec2.reachability import Ec2Reachability
from bastion_orchestrator.adapters.aws.ec2.snapshots import Ec2Snapshots

__all__ = ["Ec2Instances", "Ec2Reachability", "Ec2Snapshots"]
