"""What a bastion does at boot: its user data, a bash script cloud-init runs once as root.

1. **The dead-man switch.** A systemd timer powers the instance off at its hard cap
   (``CreatedAt + MAX_LIFETIME_HOURS``); with ``InstanceInitiatedShutdownBehavior=terminate``
   that terminates it even when both functions, every schedule and the sweep have failed (a bad
   deploy, a disabled KMS key, a deleted role). The timer is ``Persistent``, and every boot
   re-checks the cap, so a reboot cannot skip it. Extend never passes the cap, so the switch
   never cuts a legitimate session short.
2. **Who a session runs as** (``session_users``): an OS user with no sudo, unless the
   deployment opted in.
3. **The message of the day**: owner, reason, expiry and how to extend, the database forward.
4. **The boot profile's work** (``minimal``: nothing more; ``db-clients``: psql, mysql and
   redis clients from the distribution's repositories, with a note in the MOTD when the
   repository is unreachable), then the operator's own script, if the deployment has one.

Nothing a user typed (username, display name, reason) is ever interpolated into the script:
every such value travels base64-encoded and is only ever decoded into a file. The only
values written into the script as text are numbers, ISO times we computed, and names that
passed strict validation (the profile, the region, the document, the database host).

The script is pure text built from a ``BootSpec``: tests run it against a scratch root with
stand-ins for ``systemctl``, ``dnf`` and ``curl`` (``BASTION_ROOT``).
"""

from __future__ import annotations

import base64
import json
import shlex
from dataclasses import dataclass
from datetime import datetime
from typing import Final

from bastion_orchestrator.adapters.aws.ec2.session_users import (
    SESSION_USER,
    SUDOERS_FILE,
    session_users,
)
from bastion_orchestrator.clock import iso, to_utc

# Packages each profile installs (Amazon Linux 2023 repositories), in the order given.
PROFILES: Final[dict[str, tuple[str, ...]]] = {
    "minimal": (),
    "db-clients": ("postgresql16", "mariadb105", "redis6"),
}
USER_DATA_LIMIT: Final = 16 * 1024  # EC2's limit, before base64
PACKAGE_TIMEOUT_SECONDS: Final = 300
__all__ = [
    "PACKAGE_TIMEOUT_SECONDS",
    "PROFILES",
    "SESSION_USER",
    "SUDOERS_FILE",
    "USER_DATA_LIMIT",
    "BootSpec",
    "user_data",
]


@dataclass(frozen=True)
class BootSpec:
    profile: str
    username: str
    environment: str
    created_at: datetime
    expires_at: datetime
    cap: datetime
    display_name: str | None = None
    reason: str | None = None
    rds_endpoint: str | None = None
    rds_port: int = 5432
    region: str | None = None
    port_forward_document: str = "AWS-StartPortForwardingSessionToRemoteHost"
    operator_script: str | None = None  # the deployment's own script, appended last
    session_sudo: bool = False  # the deployment opted in: the session user may become root


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def _motd(spec: BootSpec) -> str:
    """The MOTD, with ``@INSTANCE_ID@`` filled in at boot from instance metadata."""
    who = spec.username + (f" ({spec.display_name})" if spec.display_name else "")
    lines = [
        "",
        f"  bastion-orchestrator: {spec.environment} bastion @INSTANCE_ID@",
        f"  owner    : {who}",
        f"  reason   : {spec.reason or '(none given)'}",
        f"  expires  : {iso(spec.expires_at)} (as launched; extensions move it)",
        f"  hard cap : {iso(spec.cap)}: powered off and terminated then, whatever happens",
        f"  extend   : /infra bastion extend {spec.environment}   (or: bastion extend)",
        "  sudo     : "
        + ("yes (this deployment opted in)" if spec.session_sudo else "none (session_sudo off)"),
        *_database(spec),
        "  Everything you type here is recorded in the session log.",
        "",
    ]
    return "\n".join(lines)


def _database(spec: BootSpec) -> list[str]:
    """The MOTD's port-forward command for the database, when the deployment has one."""
    if not spec.rds_endpoint:
        return []
    where = f" --region {spec.region}" if spec.region else ""
    parameters = json.dumps(
        {
            "host": [spec.rds_endpoint],
            "portNumber": [str(spec.rds_port)],
            "localPortNumber": [str(spec.rds_port)],
        },
        separators=(",", ":"),
    )
    return [
        f"  database : {spec.rds_endpoint}:{spec.rds_port}, from your laptop:",
        f"    aws ssm start-session --target @INSTANCE_ID@{where} "
        f"--document-name {spec.port_forward_document} --parameters {shlex.quote(parameters)}",
    ]


def user_data(spec: BootSpec) -> str:
    """The boot script for ``spec``. Raises ``ValueError`` for an unknown profile."""
    packages = PROFILES[spec.profile]
    cap = to_utc(spec.cap)
    script = [
        *_preamble(spec.profile, cap),
        *_dead_man_switch(cap),
        *session_users(spec.session_sudo),
        *_motd_at_boot(spec),
        *_profile_packages(spec.profile, packages),
        *_operator(spec.operator_script),
        "",
        'log "boot work done in ${SECONDS}s"',
        "",
    ]
    text = "\n".join(script)
    if len(text.encode()) > USER_DATA_LIMIT:
        raise ValueError(f"user data is {len(text.encode())} bytes; EC2 takes {USER_DATA_LIMIT}")
    return text


def _preamble(profile: str, cap: datetime) -> list[str]:
    return [
        "#!/bin/bash",
        f"# bastion-orchestrator boot script, profile {profile}. Generated: user-typed",
        "# text appears only base64-encoded.",
        "set -u",
        'ROOT="${BASTION_ROOT:-}"',
        f"CAP_EPOCH={int(cap.timestamp())}",
        'mkdir -p "$ROOT/etc/systemd/system" "$ROOT/etc/motd.d" "$ROOT/var/log"',
        'log() { echo "bastion-boot: $*" >> "$ROOT/var/log/bastion-boot.log"; }',
        f"log 'profile {profile}, hard cap {iso(cap)}'",
        "",
    ]


def _dead_man_switch(cap: datetime) -> list[str]:
    """Step 1: a persistent systemd timer powers off at the cap; a plain shutdown if not."""
    return [
        "# 1. The dead-man switch: power off (= terminate) at the hard cap, whatever fails.",
        "cat > \"$ROOT/etc/systemd/system/bastion-deadman.service\" <<'UNIT'",
        "[Unit]",
        "Description=bastion-orchestrator: power off at the bastion's hard cap",
        "[Service]",
        "Type=oneshot",
        "ExecStart=/usr/bin/systemctl poweroff --no-wall",
        "UNIT",
        "cat > \"$ROOT/etc/systemd/system/bastion-deadman.timer\" <<'UNIT'",
        "[Unit]",
        "Description=bastion-orchestrator: the bastion's hard cap",
        "[Timer]",
        f"OnCalendar={cap.strftime('%Y-%m-%d %H:%M:%S UTC')}",
        "AccuracySec=1s",
        "Persistent=true",
        "[Install]",
        "WantedBy=timers.target",
        "UNIT",
        'if [ "$(date -u +%s)" -ge "$CAP_EPOCH" ]; then',
        "  log 'past the hard cap at boot: powering off'",
        "  systemctl poweroff --no-wall",
        "fi",
        "if ! systemctl enable --now bastion-deadman.timer; then",
        "  # Without systemd's timer, a plain delayed shutdown still ends it at the cap.",
        "  minutes=$(( (CAP_EPOCH - $(date -u +%s)) / 60 ))",
        '  shutdown -P "+$minutes" && log "timer failed; shutdown scheduled in $minutes min"',
        "fi",
        "",
    ]


def _motd_at_boot(spec: BootSpec) -> list[str]:
    """Step 3: the MOTD, base64-encoded, with the instance id IMDSv2 answers."""
    return [
        "",
        "# 3. The message of the day (the instance id comes from IMDSv2).",
        "token=$(curl -s -m 2 -X PUT http://169.254.169.254/latest/api/token \\",
        '  -H "X-aws-ec2-metadata-token-ttl-seconds: 60" || true)',
        'iid=$(curl -s -m 2 -H "X-aws-ec2-metadata-token: $token" \\',
        "  http://169.254.169.254/latest/meta-data/instance-id || true)",
        "case \"$iid\" in i-[0-9a-f]*) ;; *) iid='this-instance' ;; esac",
        f"echo '{_b64(_motd(spec))}' | base64 -d \\",
        '  | sed "s/@INSTANCE_ID@/${iid//[^a-z0-9-]/}/g" > "$ROOT/etc/motd.d/30-bastion"',
    ]


def _profile_packages(profile: str, packages: tuple[str, ...]) -> list[str]:
    """Step 4: the profile's packages; a note in the MOTD when the repository is unreachable."""
    if not packages:
        return []
    names = " ".join(shlex.quote(p) for p in packages)
    return [
        "",
        f"# 4. Profile {profile}: {', '.join(packages)}. dnf's transaction summary",
        "# (packages, Total download size) goes to the boot log: the figure to check.",
        f"if timeout {PACKAGE_TIMEOUT_SECONDS} dnf -y install {names} \\",
        '    >> "$ROOT/var/log/bastion-boot.log" 2>&1; then',
        f"  log 'installed {' '.join(packages)}'",
        "else",
        "  echo '  NOTE: the database clients could not be installed: the package "
        "repository was unreachable (no NAT or S3 gateway endpoint?).' "
        '>> "$ROOT/etc/motd.d/30-bastion"',
        f"  log 'package install failed: {' '.join(packages)}'",
        "fi",
    ]


def _operator(script: str | None) -> list[str]:
    """Step 5: the deployment's own script, decoded into a file and run after the rest."""
    if not script:
        return []
    return [
        "",
        "# 5. The deployment's own script (BOOT_SCRIPT), after the built-ins.",
        'mkdir -p "$ROOT/var/lib/bastion"',
        'operator="$ROOT/var/lib/bastion/operator.sh"',
        f"echo '{_b64(script)}' | base64 -d > \"$operator\"",
        'bash "$operator" >> "$ROOT/var/log/bastion-boot.log" 2>&1 \\',
        '  || log "operator script failed"',
    ]
