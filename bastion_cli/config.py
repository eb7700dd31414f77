"""Where deployments live: a small TOML file mapping each environment to its IAM door.

``$BASTION_CONFIG``, else ``$XDG_CONFIG_HOME/bastion/config.toml``, else
``~/.config/bastion/config.toml``::

    default = "dev"

    [environments.dev]
    url = "https://abcdefghij.lambda-url.us-east-1.on.aws/"
    region = "us-east-1"
    project = "docustack"       # optional, informational
    profile = "dev"             # optional: the AWS profile to sign with
    database = "app"            # optional: dbname in the printed client command
    db_user = "alice"           # optional: user in the printed client command
    engine = "postgres"         # optional: postgres or mysql (default: from the port)

``bastion configure`` writes it, from flags or from the Terraform module's ``cli_config``
output, so nobody types a URL twice.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Final
from urllib.parse import urlsplit

from bastion_cli.errors import NotConfigured, UsageError

ENV_NAME: Final = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
REGION: Final = re.compile(r"^[a-z]{2}(-[a-z]+)+-[0-9]+$")
ENGINES: Final = ("postgres", "mysql")
LOOPBACK: Final = frozenset({"127.0.0.1", "localhost", "::1"})


@dataclass(frozen=True)
class Environment:
    name: str
    url: str
    region: str
    project: str | None = None
    profile: str | None = None
    database: str | None = None
    db_user: str | None = None
    engine: str | None = None


@dataclass
class Config:
    path: Path
    environments: dict[str, Environment] = field(default_factory=dict)
    default: str | None = None

    def environment(self, name: str | None) -> Environment:
        """The named environment, or the default one, or the only one."""
        if not self.environments:
            raise NotConfigured(
                f"No environments are configured ({self.path} is missing or empty).",
                "Run `bastion configure --from-terraform FILE` with the module's cli_config "
                "output (terraform output -json cli_config > cli_config.json), or "
                "`bastion configure ENV --url URL --region REGION`.",
            )
        chosen = name or self.default
        if chosen is None and len(self.environments) == 1:
            chosen = next(iter(self.environments))
        if chosen is None:
            raise UsageError(
                "Which environment? Several are configured and none is the default.",
                f"Name one: {', '.join(sorted(self.environments))} "
                "(or make one the default: bastion configure ENV --default).",
            )
        if chosen not in self.environments:
            raise NotConfigured(
                f"Environment {chosen!r} is not configured in {self.path}.",
                f"Configured: {', '.join(sorted(self.environments))}. Add it with "
                f"`bastion configure {chosen} --url URL --region REGION` or "
                "`bastion configure --from-terraform FILE`.",
            )
        return self.environments[chosen]


def default_path() -> Path:
    explicit = os.environ.get("BASTION_CONFIG")
    if explicit:
        return Path(explicit).expanduser()
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "bastion" / "config.toml"


def load(path: Path | None = None) -> Config:
    import tomllib

    path = path or default_path()
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return Config(path)
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as e:
        raise NotConfigured(
            f"Cannot read {path}: {e}.", "Fix or delete it, then run `bastion configure`."
        ) from e
    names = {f.name for f in fields(Environment)} - {"name"}
    environments: dict[str, Environment] = {}
    for name, table in (data.get("environments") or {}).items():
        if not isinstance(table, dict):
            continue
        values = {k: str(v) for k, v in table.items() if k in names and v is not None}
        try:
            environments[name] = validated(Environment(name=name, **values))
        except (TypeError, UsageError) as e:
            raise NotConfigured(
                f"Environment {name!r} in {path} is incomplete or invalid: {e}.",
                f"Run `bastion configure {name} --url URL --region REGION` again.",
            ) from e
    default = data.get("default")
    return Config(path, environments, default if isinstance(default, str) else None)


def validated(env: Environment) -> Environment:
    if not ENV_NAME.match(env.name):
        raise UsageError(
            f"Environment name {env.name!r} is not valid.", "Use letters, digits, - and _."
        )
    check_url(env.url)
    if not REGION.match(env.region):
        raise UsageError(f"{env.region!r} is not an AWS region.", "e.g. --region eu-west-1")
    if env.engine is not None and env.engine not in ENGINES:
        raise UsageError(f"Unknown engine {env.engine!r}.", f"Use one of {', '.join(ENGINES)}.")
    return env


def check_url(url: str) -> str:
    """Signed requests go only over HTTPS (plain HTTP only to a local emulator)."""
    parts = urlsplit(url)
    if parts.scheme == "https" and parts.hostname:
        return url
    if parts.scheme == "http" and parts.hostname in LOOPBACK:
        return url
    raise UsageError(
        f"{url!r} is not an IAM door URL.",
        "Use the module's iam_door_url (https://….lambda-url.<region>.on.aws/).",
    )


def save(config: Config) -> None:
    """Write the whole file atomically (a crash never leaves half a config)."""
    lines = ["# Written by `bastion configure`. One table per environment.", ""]
    if config.default:
        lines += [f"default = {_toml_string(config.default)}", ""]
    for name in sorted(config.environments):
        env = config.environments[name]
        lines.append(f"[environments.{name}]")
        for f in fields(Environment):
            value = getattr(env, f.name)
            if f.name != "name" and value is not None:
                lines.append(f"{f.name} = {_toml_string(value)}")
        lines.append("")
    config.path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=config.path.parent, prefix=".config.", suffix=".toml")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write("\n".join(lines))
        Path(tmp).replace(config.path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _toml_string(value: str) -> str:
    # A JSON string (ASCII, escaped) is a valid TOML basic string.
    return json.dumps(value)


def from_terraform(text: str) -> dict[str, Any]:
    """The module's ``cli_config`` from ``terraform output -json cli_config`` (the object) or
    ``terraform output -json`` (every output, ``cli_config.value`` among them)."""
    try:
        data = json.loads(text)
    except ValueError as e:
        raise UsageError(
            "The Terraform output is not JSON.",
            "Use `terraform output -json cli_config` (or `terraform output -json`).",
        ) from e
    if isinstance(data, dict) and isinstance(data.get("cli_config"), dict):
        data = data["cli_config"].get("value", data["cli_config"])
    if not isinstance(data, dict) or "region" not in data or "url" not in data:
        raise UsageError(
            "This is not the module's cli_config output (it needs url and region).",
            "Use `terraform output -json cli_config` of the bastion-orchestrator module.",
        )
    if not data.get("url"):
        raise UsageError(
            "This deployment has no IAM door (cli_config.url is null).",
            "Set create_iam_door = true in the module and apply, then configure again.",
        )
    return data
