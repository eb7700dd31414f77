"""The EC2 compute backend: an ``Order`` becomes a hardened instance.

Only this module knows how a bastion is made on EC2: the image (``AMI_ID`` or the SSM
parameter), the instance type, the subnets to try (the requested one first, then the
deployment's, on a refusal or no capacity), the tags that record the order, and the boot
script (``boot``). Reads, termination and tagging go straight to ``Ec2Instances``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Protocol

from bastion_orchestrator.adapters.aws.ec2.boot import BootSpec, user_data
from bastion_orchestrator.clock import iso
from bastion_orchestrator.domain.bastion import ACTIVE_STATES, MANAGED_BY, Bastion, Tag
from bastion_orchestrator.domain.compute import Launched, Order, client_token
from bastion_orchestrator.domain.ports import Instances, LaunchSpec
from bastion_orchestrator.errors import (
    CapacityUnavailable,
    ConfigurationError,
    InvalidRequest,
    LaunchRejected,
    NoCapacity,
)
from bastion_orchestrator.observability import count, logger


class Machines(Instances, Protocol):
    """``Ec2Instances``: what this backend needs of EC2 itself, beside the reads."""

    def launch(self, spec: LaunchSpec) -> Bastion: ...
    def latest_image(self) -> str: ...


@dataclass(frozen=True)
class Ec2Profile:
    """The deployment's EC2 settings (``config.Settings``, read by the composition root)."""

    project: str
    environment: str
    instance_type: str
    subnets: tuple[str, ...]
    security_group_id: str | None
    instance_profile: str
    ami_id: str | None = None
    region: str | None = None
    port_forward_document: str = "AWS-StartPortForwardingSessionToRemoteHost"
    operator_script: str | None = None
    session_sudo: bool = False


@dataclass(frozen=True)
class Ec2Compute:
    machines: Machines
    profile: Ec2Profile

    def launch(self, order: Order) -> Launched:
        subnets = self._subnets(order)
        image = self.profile.ami_id or self.machines.latest_image()
        tags = tags_of(order, self.profile)
        script = user_data(boot_spec(order, self.profile))
        bastion, notes = self._first_fit(order, image, subnets, tags, script)
        # The launch answer, tagged as ordered (EC2 reads are eventually consistent).
        return Launched(replace(bastion, tags=tags), tuple(notes))

    def get(self, instance_id: str) -> Bastion | None:
        return self.machines.get(instance_id)

    def active(
        self, user_id: str | None = None, *, states: Sequence[str] = ACTIVE_STATES
    ) -> Iterator[Bastion]:
        return self.machines.active(user_id, states=states)

    def by_profile(self) -> Iterator[Bastion]:
        return self.machines.by_profile()

    def terminate(self, instance_ids: Sequence[str]) -> dict[str, str]:
        return self.machines.terminate(instance_ids)

    def tag(self, instance_id: str, tags: Mapping[str, str]) -> None:
        self.machines.tag(instance_id, tags)

    def _subnets(self, order: Order) -> tuple[str, ...]:
        """A requested subnet first; the deployment's own subnets (the only ones its IAM
        policy allows anyway) are the fallback when EC2 refuses it or has no capacity."""
        p = self.profile
        asked = order.placement.subnet_id
        subnets = tuple(dict.fromkeys([*([asked] if asked else []), *p.subnets]))
        if not subnets:
            raise ConfigurationError(
                "No subnet to launch into: set SUBNET_ID or SUBNET_IDS on the function, "
                "or pass subnet_id.",
                variables=["SUBNET_ID", "SUBNET_IDS"],
            )
        if not p.security_group_id:
            raise ConfigurationError(
                "BASTION_SECURITY_GROUP_ID is not set: the bastion needs its security group.",
                variables=["BASTION_SECURITY_GROUP_ID"],
            )
        return subnets

    def _first_fit(
        self, order: Order, image: str, subnets: tuple[str, ...], tags: dict[str, str], script: str
    ) -> tuple[Bastion, list[str]]:
        notes: list[str] = []
        for subnet in subnets:
            spec = self._spec(order, image, subnet, tags, script)
            try:
                bastion = self.machines.launch(spec)
            except NoCapacity:
                logger.warning(
                    "no capacity, trying the next subnet",
                    extra={"subnet": subnet, "instance_type": spec.instance_type},
                )
                count("CapacityFallbacks")
                continue
            except LaunchRejected as e:
                notes.append(self._refused(order, subnet, e, fallback=len(subnets) > 1))
                continue
            logger.info(
                "launched",
                extra={"instance_id": bastion.instance_id, "subnet": subnet, "image": image},
            )
            return bastion, notes
        raise CapacityUnavailable(
            f"No {self.profile.instance_type} capacity in subnet(s) {', '.join(subnets)}. "
            "Nothing was launched; retry in a few minutes, or add subnets in other "
            "availability zones to SUBNET_IDS.",
            subnets_tried=list(subnets),
        )

    def _spec(
        self, order: Order, image: str, subnet: str, tags: dict[str, str], script: str
    ) -> LaunchSpec:
        p = self.profile
        return LaunchSpec(
            image_id=image,
            instance_type=p.instance_type,
            subnet_id=subnet,
            security_group_id=p.security_group_id or "",
            instance_profile=p.instance_profile,
            tags=tags,
            client_token=client_token(order.token, subnet),
            user_data=script,
        )

    @staticmethod
    def _refused(order: Order, subnet: str, e: LaunchRejected, *, fallback: bool) -> str:
        """A requested subnet EC2 refuses falls back to the deployment's (the note says so);
        any other refusal is the deployment's configuration."""
        asked = subnet == order.placement.subnet_id and _subnet_refusal(e)
        if asked and fallback:
            logger.warning(
                "requested subnet refused, using the deployment's",
                extra={"subnet": subnet, "error": e.aws_code},
            )
            return (
                f"subnet_id {subnet} was refused by EC2 ({e.aws_code}); launched in "
                "this deployment's configured subnet instead."
            )
        if asked:
            raise InvalidRequest(
                f"subnet_id {subnet} was refused by EC2 ({e.message}). Pass a "
                "private subnet of this deployment's VPC, or omit subnet_id.",
            ) from e
        raise ConfigurationError(
            f"EC2 refused the launch ({e.aws_code}: {e.message}). Check SUBNET_ID/"
            "SUBNET_IDS, BASTION_SECURITY_GROUP_ID, IAM_INSTANCE_PROFILE and AMI_ID.",
            variables=["SUBNET_IDS", "BASTION_SECURITY_GROUP_ID", "IAM_INSTANCE_PROFILE", "AMI_ID"],
        ) from e


def tags_of(order: Order, p: Ec2Profile) -> dict[str, str]:
    """The order, recorded on the instance (and its volume): the state every rule reads."""
    owner = order.owner
    tags = {
        Tag.MANAGED_BY: MANAGED_BY,
        Tag.NAME: f"{p.project}-{p.environment}-bastion-{owner.username}"[:256],
        Tag.PROJECT: p.project,
        Tag.ENVIRONMENT: p.environment,
        Tag.USER_ID: owner.user_id,
        Tag.USERNAME: owner.username,
        Tag.CREATED_AT: iso(order.created_at),
        Tag.EXPIRES_AT: iso(order.expires_at),
    }
    if owner.display_name:
        tags[Tag.DISPLAY_NAME] = owner.display_name
    if owner.arn:
        # EC2 tag values hold 256 characters; an IAM path can make an ARN longer. Keep its
        # end (the user or session name), marked as cut.
        tags[Tag.ARN] = owner.arn if len(owner.arn) <= 256 else "…" + owner.arn[-255:]
    if owner.email:
        tags[Tag.EMAIL] = owner.email
    return tags | _forward_and_grant(order)


def _forward_and_grant(order: Order) -> dict[str, str]:
    tags: dict[str, str] = {}
    if order.forward.endpoint:
        tags[Tag.RDS_ENDPOINT] = order.forward.endpoint
        tags[Tag.RDS_PORT] = str(order.forward.port)
    if order.reason:
        tags[Tag.REASON] = order.reason
    if order.grant.approved_by:
        tags[Tag.APPROVED_BY] = order.grant.approved_by
    if order.grant.break_glass:
        tags[Tag.BREAK_GLASS] = "true"
    if order.grant.until is not None:  # what was granted binds its extends
        tags[Tag.GRANTED_UNTIL] = iso(order.grant.until)
    return tags


def boot_spec(order: Order, p: Ec2Profile) -> BootSpec:
    return BootSpec(
        profile=order.profile,
        username=order.owner.username,
        display_name=order.owner.display_name,
        reason=order.reason,
        environment=p.environment,
        created_at=order.created_at,
        expires_at=order.expires_at,
        cap=order.cap,
        rds_endpoint=order.forward.endpoint,
        rds_port=order.forward.port,
        region=p.region,
        port_forward_document=p.port_forward_document,
        operator_script=p.operator_script,
        session_sudo=p.session_sudo,
    )


def _subnet_refusal(error: LaunchRejected) -> bool:
    return error.aws_code.startswith("InvalidSubnet") or error.aws_code == "UnauthorizedOperation"
