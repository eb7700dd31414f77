"""SSM: the default image from the public parameter, agent ping status, session activity."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING

from bastion_orchestrator.clock import to_utc
from bastion_orchestrator.domain.ports import Agent
from bastion_orchestrator.errors import ConfigurationError
from bastion_orchestrator.observability import logger

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.parameters import SSMProvider
    from mypy_boto3_ssm import SSMClient

IMAGE_CACHE_SECONDS = 3600


def image_resolver(parameter: str, client: Callable[[], SSMClient]) -> Callable[[], str]:
    """The latest image id from a public SSM parameter, cached for an hour per container."""
    providers: list[SSMProvider] = []

    def resolve() -> str:
        from aws_lambda_powertools.utilities.parameters import SSMProvider
        from aws_lambda_powertools.utilities.parameters.exceptions import GetParameterError

        if not providers:  # our client, with our retries (left alone it builds its own)
            providers.append(SSMProvider(boto3_client=client()))
        try:
            value = providers[0].get(parameter, max_age=IMAGE_CACHE_SECONDS)
        except GetParameterError as e:
            raise ConfigurationError(
                f"Could not read the default image from SSM parameter {parameter}: {e}. "
                "Set AMI_ID, or allow ssm:GetParameter on that parameter.",
                variables=["AMI_ID"],
            ) from e
        return str(value)

    return resolve


class SsmSessions:
    def __init__(self, client: Callable[[], SSMClient]) -> None:
        self._client = client

    def agent(self, instance_id: str) -> Agent:
        """Informational only: an error here must never fail the caller's status request."""
        try:
            response = self._client().describe_instance_information(
                Filters=[{"Key": "InstanceIds", "Values": [instance_id]}]
            )
        except Exception as e:
            # Informational only: any failure (an outage, a missing permission, an emulator
            # without this API) degrades to "Unknown" rather than failing the status request.
            logger.warning("SSM agent status unavailable", extra={"error": repr(e)})
            return Agent("Unknown")
        items = response.get("InstanceInformationList", [])
        if not items:
            return Agent("NotRegistered")
        registered = items[0].get("RegistrationDate")
        return Agent(
            str(items[0].get("PingStatus", "Unknown")),
            to_utc(registered) if isinstance(registered, datetime) else None,
        )

    def active_targets(self) -> set[str]:
        targets: set[str] = set()
        pages = self._client().get_paginator("describe_sessions").paginate(State="Active")
        for page in pages:
            targets.update(s["Target"] for s in page.get("Sessions", []) if "Target" in s)
        return targets

    def last_session_end(self, instance_id: str) -> datetime | None:
        """When the newest finished session on the instance ended, over every page of the
        history (its order is not documented: the newest may be on any page)."""
        pages = (
            self._client()
            .get_paginator("describe_sessions")
            .paginate(
                State="History",
                Filters=[{"key": "Target", "value": instance_id}],
                PaginationConfig={"PageSize": 50},
            )
        )
        ends = [
            to_utc(s["EndDate"])
            for page in pages
            for s in page.get("Sessions", [])
            if "EndDate" in s
        ]
        return max(ends) if ends else None
