"""Session Manager sessions, started here and handed to ``session-manager-plugin``.

As the AWS CLI (``awscli/customizations/sessionmanager.py``) and basti do: ``StartSession``
through boto3 with the caller's credentials, then the plugin with

    session-manager-plugin <response> <region> StartSession <profile> <request JSON> <endpoint>

where ``<response>`` is ``{"SessionId", "TokenValue", "StreamUrl"}``. Plugins newer than
1.2.497.0 read it from the environment variable ``AWS_SSM_START_SESSION_RESPONSE`` when that
name is passed instead, which keeps the session token out of the process list; the version is
asked with ``--version`` first, as the AWS CLI does.

A port forward runs the plugin in its own process group with its output piped: the tunnel is
open when it prints ``Port N opened`` / ``Waiting for connections``; Ctrl-C reaches only this
process, which asks the plugin to stop (SIGINT: it terminates the session itself). A shell
inherits the terminal; user signals are ignored here meanwhile and belong to the plugin.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from contextlib import suppress
from dataclasses import dataclass
from typing import Any, Final

from bastion_cli.aws import Aws, error_code
from bastion_cli.errors import CliError, Forbidden, PluginMissing, Unreachable, plugin_install_hint

PLUGIN: Final = "session-manager-plugin"
RESPONSE_ENV: Final = "AWS_SSM_START_SESSION_RESPONSE"
LAST_VERSION_WITHOUT_ENV: Final = (1, 2, 497, 0)
OPENED: Final = re.compile(r"opened for sessionid|waiting for connections", re.IGNORECASE)
PORT_IN_USE: Final = re.compile(
    r"address already in use|only one usage of each socket address", re.IGNORECASE
)
OPEN_TIMEOUT: Final = 30.0  # basti waits as long for the plugin to open the port
STOP_GRACE: Final = 5.0
_CREDENTIAL_CODES: Final = frozenset(
    {"ExpiredTokenException", "UnrecognizedClientException", "InvalidSignatureException"}
)


class TargetNotConnected(Exception):
    """The agent is not connected to Session Manager yet: retried until the deadline."""


@dataclass(frozen=True)
class Plugin:
    path: str
    version: tuple[int, ...] | None

    @classmethod
    def find(cls) -> Plugin:
        path = shutil.which(PLUGIN)
        if path is None:
            raise PluginMissing(
                f"The Session Manager plugin ({PLUGIN}) is not installed or not on PATH.",
                plugin_install_hint(),
            )
        try:
            out = subprocess.run(  # noqa: S603 (the plugin found on PATH, fixed arguments)
                [path, "--version"], capture_output=True, text=True, timeout=10, check=False
            ).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            out = ""
        parts = re.sub(r"\s+", "", out).split(".")
        version = tuple(int(p) for p in parts) if all(p.isdigit() for p in parts) else None
        return cls(path, version)

    @property
    def reads_env(self) -> bool:
        return self.version is not None and self.version > LAST_VERSION_WITHOUT_ENV


@dataclass(frozen=True)
class Request:
    """The StartSession request: also what the plugin is told (and CloudTrail records)."""

    target: str
    document: str | None
    parameters: dict[str, list[str]] | None = None

    def params(self) -> dict[str, Any]:
        params: dict[str, Any] = {"Target": self.target}
        if self.document:
            params["DocumentName"] = self.document
        if self.parameters:
            params["Parameters"] = self.parameters
        return params


@dataclass(frozen=True)
class Started:
    request: Request
    session_id: str
    response: dict[str, str]


def start(aws: Aws, request: Request) -> Started:
    """``ssm:StartSession``; ``TargetNotConnected`` is raised for the caller to retry."""
    from botocore.exceptions import BotoCoreError, ClientError, EndpointConnectionError

    try:
        answer = aws.ssm.start_session(**request.params())
    except ClientError as e:
        code = error_code(e)
        message = str(e.response.get("Error", {}).get("Message", "")) or str(e)
        if code == "TargetNotConnected":
            raise TargetNotConnected(message) from e
        if code == "AccessDeniedException":
            document = request.document or "the default shell document"
            raise Forbidden(
                f"AWS does not let you start a session on {request.target} through "
                f"{document} ({message}).",
                "Your role or permission set needs the module's bastion_user_policy_json "
                "(ssm:StartSession on your own bastions through the module's documents). "
                "Check --profile: it must be the identity that created the bastion.",
            ) from e
        if code in _CREDENTIAL_CODES:
            raise aws.expired_token(message) from e
        if code == "InvalidDocument":
            raise CliError(
                f"The Session Manager document {request.document} does not exist in "
                f"{aws.region} ({message}).",
                "Check the environment's region (bastion configure --show); the platform "
                "team's module creates the document.",
            ) from e
        raise CliError(f"StartSession failed: {code}: {message}", "Retry in a minute.") from e
    except EndpointConnectionError as e:
        raise Unreachable(
            f"Session Manager in {aws.region} is unreachable ({e}).",
            "Check your network, VPN or proxy.",
        ) from e
    except BotoCoreError as e:
        raise aws.credentials_error(e) from e
    response = {k: str(answer[k]) for k in ("SessionId", "TokenValue", "StreamUrl")}
    return Started(request, response["SessionId"], response)


def terminate(aws: Aws, started: Started) -> None:
    """Best effort: a session whose plugin died must not linger on the agent."""
    with suppress(Exception):
        aws.ssm.terminate_session(SessionId=started.session_id)


def plugin_command(plugin: Plugin, aws: Aws, started: Started) -> tuple[list[str], dict[str, str]]:
    """The plugin's argv and environment (its argument contract: see the module docstring)."""
    env = dict(os.environ)
    response = json.dumps(started.response)
    if plugin.reads_env:
        env[RESPONSE_ENV] = response
        response = RESPONSE_ENV
    argv = [
        plugin.path,
        response,
        aws.region,
        "StartSession",
        aws.profile or "",
        json.dumps(started.request.params()),
        aws.ssm.meta.endpoint_url,
    ]
    return argv, env
