"""Which bastion a status, extend or destroy is about, and whether the caller may act on it."""

from __future__ import annotations

from dataclasses import dataclass

from bastion_orchestrator.domain.bastion import GONE_STATES, Bastion, ensure_may_act
from bastion_orchestrator.domain.compute import Compute
from bastion_orchestrator.errors import InvalidRequest, NotFound
from bastion_orchestrator.usecases.policy import Act


@dataclass(frozen=True)
class Targets:
    compute: Compute
    scope: str  # "<project>/<environment>": how refusals name this deployment

    def find(self, act: Act, *, recently_gone: bool = False) -> Bastion:
        """The bastion named by id (owner-or-admin checked), or the user's only one."""
        if act.instance_id is None and act.user_id is None:
            raise InvalidRequest(
                "Name the bastion: give instance_id, or user_id to act on that user's bastion.",
            )
        if act.instance_id is not None:
            return self._by_id(act)
        return self._only_one(act.user_id, recently_gone=recently_gone)

    def _by_id(self, act: Act) -> Bastion:
        instance_id = act.instance_id or ""
        bastion = self.compute.get(instance_id)
        if bastion is None:
            raise NotFound(
                f"No bastion {instance_id} in {self.scope}. Check the id; the list action "
                "shows the active ones.",
                instance_id=instance_id,
            )
        ensure_may_act(bastion, act.caller)
        return bastion

    def _only_one(self, caller: str | None, *, recently_gone: bool) -> Bastion:
        mine = sorted(self.compute.active(caller), key=lambda b: b.created_at)
        if not mine and recently_gone:
            # A repeated destroy by user: the bastion it ended is still visible for a while.
            gone = self.compute.active(caller, states=GONE_STATES)
            mine = sorted(gone, key=lambda b: b.created_at)[-1:]
        if not mine:
            raise NotFound(
                f"User {caller} has no active bastion in {self.scope}. "
                "Create one with the create action.",
            )
        if len(mine) > 1:
            ids = ", ".join(b.instance_id for b in mine)
            raise InvalidRequest(
                f"User {caller} has {len(mine)} active bastions ({ids}); name one with "
                "instance_id.",
                instance_ids=[b.instance_id for b in mine],
            )
        return mine[0]
