"""Least privilege, judged by a tool nobody here wrote: cloudsplaining over the moto example.

The example is applied to moto (the session's ``deployed``), every IAM principal and policy
is exported as ``aws iam get-account-authorization-details`` would (boto3 against moto,
every page), and ``cloudsplaining scan`` (its own virtualenv, ``make tf-cloudsplaining``)
reads it offline. No role, user or group of the deployment, the example's developer role
included, may carry a privilege-escalation, data-exfiltration, resource-exposure or
credentials-exposure finding. Exclusions live only in ``cloudsplaining-exclusions.yml``
beside this file, one justification per entry.

A negative control scans the same export with AmazonSSMManagedInstanceCore's parameter read
(``ssm:GetParameter``/``ssm:GetParameters`` on ``*``) put back on the bastion role: the scan must
report it, so a clean result is the policies' doing and not a blind scanner's.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml  # type: ignore[import-untyped]  # moto's dependency; no stubs installed

from tests.terraform import stack

pytestmark = pytest.mark.terraform

EXCLUSIONS = Path(__file__).with_name("cloudsplaining-exclusions.yml")
FAILING = ("PrivilegeEscalation", "DataExfiltration", "ResourceExposure", "CredentialsExposure")
DETAIL_LISTS = ("UserDetailList", "GroupDetailList", "RoleDetailList", "Policies")


def _cloudsplaining() -> Path:
    explicit = os.environ.get("CLOUDSPLAINING")
    path = Path(explicit) if explicit else stack.ROOT / ".venv-cloudsplaining/bin/cloudsplaining"
    if not path.exists():
        if explicit:
            pytest.fail(f"CLOUDSPLAINING={explicit} does not exist")
        pytest.skip(
            "cloudsplaining is not installed: `make tf-cloudsplaining` installs and runs it"
        )
    return path


def authorization_details(iam: Any) -> dict[str, list[Any]]:
    """``aws iam get-account-authorization-details``: every page, every entity type."""
    details: dict[str, list[Any]] = {key: [] for key in DETAIL_LISTS}
    for page in iam.get_paginator("get_account_authorization_details").paginate():
        for key in DETAIL_LISTS:
            details[key].extend(page.get(key, []))
    # As the AWS CLI prints it: dates as strings, policy documents as JSON objects.
    printed: dict[str, list[Any]] = json.loads(json.dumps(details, default=str))
    # moto 5.2 leaves PolicyName and PolicyId out of managed policies (AWS has both, and
    # cloudsplaining needs them): the name is the ARN's last part, the id any stable one.
    for policy in printed["Policies"]:
        policy.setdefault("PolicyName", policy["Arn"].rsplit("/", 1)[-1])
        digest = hashlib.sha256(policy["Arn"].encode()).hexdigest()[:17].upper()
        policy.setdefault("PolicyId", f"ANPA{digest}")
    return printed


def scan(details: dict[str, Any], workdir: Path, name: str) -> dict[str, Any]:
    """Runs ``cloudsplaining scan`` on an export; its findings file, parsed."""
    workdir.mkdir(parents=True, exist_ok=True)
    export = workdir / f"{name}.json"
    export.write_text(json.dumps(details, indent=1))
    result = subprocess.run(
        [
            str(_cloudsplaining()),
            "scan",
            "--input-file",
            str(export),
            "--exclusions-file",
            str(EXCLUSIONS),
            "--output",
            str(workdir),
            "--skip-open-report",  # offline: no browser, and no --minimize (no CDN)
        ],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    return dict(json.loads((workdir / f"iam-findings-{name}.json").read_text()))


def failing_findings(findings: dict[str, Any]) -> list[str]:
    """Every finding of the failing kinds on any principal that is not excluded."""
    out = []
    for kind in ("roles", "users", "groups"):
        for principal in findings.get(kind, {}).values():
            if principal.get("is_excluded"):
                continue
            for source in ("inline_policies", "customer_managed_policies", "aws_managed_policies"):
                for policy_id in principal.get(source, {}):
                    policy = findings[source][policy_id]
                    if policy.get("is_excluded"):
                        continue
                    for risk in FAILING:
                        for finding in policy.get(risk, {}).get("findings", []):
                            out.append(
                                f"{kind[:-1]} {principal['name']}: {risk} {finding} "
                                f"(policy {policy.get('PolicyName', policy_id)})"
                            )
    return sorted(out)


@pytest.fixture(scope="module")
def export(deployed: stack.Deployed) -> dict[str, Any]:
    return authorization_details(deployed.client("iam"))


@pytest.fixture(scope="module")
def findings(export: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return scan(export, tmp_path_factory.mktemp("cloudsplaining"), "moto-example")


def _role_names(deployed: stack.Deployed) -> set[str]:
    return {r["name"] for r in deployed.resources("aws_iam_role")}


def test_no_role_may_escalate_exfiltrate_or_expose(
    deployed: stack.Deployed, findings: dict[str, Any]
) -> None:
    # Given cloudsplaining's findings for every principal of the applied example
    scanned = {r["name"] for r in findings["roles"].values()}
    # Then it saw every role the example created: the module's four and the developer role
    assert _role_names(deployed) <= scanned, _role_names(deployed) - scanned
    assert deployed.outputs["developer_role_name"] in scanned
    # And none of them was excluded from the scan
    excluded = {r["name"] for r in findings["roles"].values() if r.get("is_excluded")}
    assert not excluded & _role_names(deployed), excluded
    # And no principal has a privilege-escalation, data-exfiltration, resource-exposure or
    # credentials-exposure finding
    assert failing_findings(findings) == []


def test_the_scan_would_catch_the_managed_policy_it_replaced(
    export: dict[str, Any], deployed: stack.Deployed, tmp_path: Path
) -> None:
    # Given the same export with AmazonSSMManagedInstanceCore's parameter read put back on
    # the bastion role (what the scan flagged)
    doctored = copy.deepcopy(export)
    role_name = deployed.outputs["bastion_role_arn"].rsplit("/", 1)[-1]
    (role,) = [r for r in doctored["RoleDetailList"] if r["RoleName"] == role_name]
    role["RolePolicyList"].append(
        {
            "PolicyName": "core-parameter-read",
            "PolicyDocument": {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Action": ["ssm:GetParameter", "ssm:GetParameters"],
                        "Resource": "*",
                    }
                ],
            },
        }
    )
    # When cloudsplaining scans it
    found = failing_findings(scan(doctored, tmp_path, "doctored"))
    # Then it reports the data exfiltration on the bastion role, and nothing else
    assert found == [
        f"role {role_name}: DataExfiltration ssm:GetParameter (policy core-parameter-read)",
        f"role {role_name}: DataExfiltration ssm:GetParameters (policy core-parameter-read)",
    ]


def test_every_exclusion_is_justified_on_its_line() -> None:
    # Given the committed exclusions file
    text = EXCLUSIONS.read_text()
    config = yaml.safe_load(text)
    # Then it excludes nothing but what it names in its lists, and each named entry carries
    # its reason on the same line
    entries = [
        line
        for line in text.splitlines()
        if re.match(r"^\s*-\s*\S", line) and not re.match(r'^\s*-\s*""', line)
    ]
    unjustified = [line for line in entries if not re.search(r"\s#\s*\S.{15,}", line)]
    assert unjustified == [], unjustified
    named = [
        v
        for key in ("policies", "roles", "users", "groups", "exclude-actions")
        for v in config.get(key) or []
        if v
    ]
    # include-actions widen the scan (cloudsplaining's read-only exfiltration list)
    assert len(named) + len(config.get("include-actions") or []) == len(entries)
