"""What moto 5.2 lacks and the code relies on, emulated narrowly and said so.

- ``DescribeInstances`` filter ``iam-instance-profile.arn`` (the sweep finds de-tagged
  bastions by the module's instance profile): moto raises NotImplementedError for it. This
  adds that one filter, with EC2's semantics (``*`` and ``?`` wildcards), and leaves every
  other filter to moto.
"""

from __future__ import annotations

import atexit
import fnmatch
import gzip
import importlib.util
import json
import os
import tempfile
from pathlib import Path
from typing import Any

FILTER = "iam-instance-profile.arn"


def lean_amis(region: str = "us-east-1") -> None:
    """Every EC2 backend moto makes loads its ~2,600 public AMIs (half a second, each test).
    The code only ever launches the public Amazon Linux images the SSM parameters name: this
    points ``MOTO_AMIS_PATH`` at just those (moto's own list for the region). Must run before
    moto is imported; the images, their ids and the parameters are moto's, unchanged."""
    spec = importlib.util.find_spec("moto")
    if spec is None or not spec.submodule_search_locations or "MOTO_AMIS_PATH" in os.environ:
        return
    resources = Path(next(iter(spec.submodule_search_locations))) / "ec2" / "resources"
    with gzip.open(resources / "latest_amis" / f"{region}.json.gz") as f:
        amis = json.load(f)
    handle, path = tempfile.mkstemp(prefix="moto-amis-", suffix=".json")
    with os.fdopen(handle, "w") as out:
        json.dump(amis, out)
    atexit.register(os.unlink, path)
    os.environ["MOTO_AMIS_PATH"] = path


def install() -> None:
    from moto.ec2 import utils

    original = utils.passes_filter_dict
    if getattr(original, "bastion_compat", False):
        return

    def passes_filter_dict(instance: Any, filter_dict: dict[str, Any]) -> bool:
        wanted = filter_dict.get(FILTER)
        if wanted is None:
            return original(instance, filter_dict)
        rest = {k: v for k, v in filter_dict.items() if k != FILTER}
        arn = _profile_arn(instance)
        if arn is None or not any(fnmatch.fnmatchcase(arn, value) for value in wanted):
            return False
        return original(instance, rest)

    passes_filter_dict.bastion_compat = True  # type: ignore[attr-defined]
    utils.passes_filter_dict = passes_filter_dict


def _profile_arn(instance: Any) -> str | None:
    profile = getattr(instance, "iam_instance_profile", None)
    if not isinstance(profile, dict):
        return None
    if profile.get("Arn"):
        return str(profile["Arn"])
    name = profile.get("Name")
    account = getattr(instance, "owner_id", "123456789012")
    return f"arn:aws:iam::{account}:instance-profile/{name}" if name else None
