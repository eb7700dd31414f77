"""The ``bastion`` command: from "I need the database" to a working tunnel.

It talks to the orchestrator's IAM door (a SigV4-signed Function URL) with the caller's own
AWS credentials, starts the Session Manager session itself and hands it to the
``session-manager-plugin``. It imports nothing of the Lambda code (``bastion_orchestrator``,
pydantic, Powertools): the two only share the contract's JSON.
"""

__version__ = "0.3.0"
