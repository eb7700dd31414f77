"""Step 2 of the boot script: who a session runs as.

The module's session preferences run shells as ``bastion`` (``runAsEnabled``,
``runAsDefaultUser``), an OS user with no sudo: a session user cannot ``systemctl disable``
the dead-man switch. Under the account's own preferences sessions run as ``ssm-user``, which
SSM Agent gives passwordless sudo only when it creates the account itself
(``/etc/sudoers.d/ssm-agent-users``), so the script creates it first, and a sudoers file read
after the agent's and cloud-init's refuses sudo to both (and to ``ec2-user``).
``session_sudo`` (``SESSION_SUDO``) is the deployment's explicit opt-in: ``bastion`` may then
become root.
"""

from __future__ import annotations

from typing import Final

SESSION_USER: Final = "bastion"  # runAsDefaultUser in the module's session preferences
# sudo reads /etc/sudoers.d in name order (skipping names with a dot) and the last matching
# rule wins: this name sorts after the agent's ssm-agent-users and 90-cloud-init-users.
SUDOERS_FILE: Final = "zz-bastion-sessions"


def session_users(sudo: bool) -> list[str]:
    """Step 2: the session users exist before any session, with sudo only if opted in."""
    sudoers = f'"$ROOT/etc/sudoers.d/{SUDOERS_FILE}"'
    users, rules = _sudo_rules(sudo)
    return [
        "# 2. The session users, before any session: no wheel, and sudo only if opted in.",
        "# SSM Agent writes ssm-agent-users (sudo) only when it creates ssm-user itself.",
        'mkdir -p "$ROOT/etc/sudoers.d"',
        f"for u in {' '.join(users)}; do",
        '  id "$u" >/dev/null 2>&1 || useradd -m -U -s /bin/bash "$u" || log "useradd $u failed"',
        "done",
        f"cat > {sudoers} <<'SUDO'",
        *rules,
        "SUDO",
        f"chmod 0440 {sudoers}",
        f'visudo -cqf {sudoers} || log "sudoers check failed"',
    ]


def _sudo_rules(sudo: bool) -> tuple[list[str], list[str]]:
    """The users the script creates, and the sudoers rules that come last."""
    if sudo:
        return [SESSION_USER], [
            "# bastion-orchestrator: session_sudo is on, the session user may become root.",
            f"{SESSION_USER} ALL=(ALL) NOPASSWD:ALL",
        ]
    return [SESSION_USER, "ssm-user"], [
        "# bastion-orchestrator: session users have no sudo (session_sudo is off).",
        f"User_Alias BASTION_SESSION_USERS = {SESSION_USER}, ssm-user, ec2-user",
        "BASTION_SESSION_USERS ALL=(ALL) !ALL",
    ]
