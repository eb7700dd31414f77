"""The caller's own AWS credentials (profiles, SSO, environment), turned into signatures and
an SSM client. boto3 is imported on first use: ``--help``, ``configure`` and every failure
before the first request never pay for it.

botocore says what is wrong with credentials through distinct exceptions (checked against
botocore 1.44): ``SSOTokenLoadError`` (never logged in, no cached token),
``UnauthorizedSSOTokenError`` (a legacy SSO profile's session expired), ``TokenRetrievalError``
(an ``sso-session`` token expired and could not be refreshed), ``NoCredentialsError``,
``ProfileNotFound``, ``PartialCredentialsError``, ``CredentialRetrievalError``
(``credential_process`` and friends). Each becomes a ``CredentialsError`` with the command
that fixes it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any

from bastion_cli.errors import CredentialsError

if TYPE_CHECKING:
    import boto3
    from botocore.credentials import ReadOnlyCredentials
    from mypy_boto3_ssm import SSMClient


@dataclass
class Aws:
    region: str
    profile: str | None = None  # None: botocore's chain (AWS_PROFILE, environment, default)

    @property
    def profile_name(self) -> str:
        """The profile a remedy should name (what `aws sso login --profile` needs)."""
        return self.profile or os.environ.get("AWS_PROFILE") or "default"

    @cached_property
    def session(self) -> boto3.session.Session:
        import boto3
        from botocore.exceptions import BotoCoreError

        try:
            return boto3.session.Session(profile_name=self.profile, region_name=self.region)
        except BotoCoreError as e:
            raise self.credentials_error(e) from e

    def credentials(self) -> ReadOnlyCredentials:
        """Frozen credentials, resolved now (SSO ones are fetched lazily by botocore, so this
        is where an expired SSO session shows)."""
        from botocore.exceptions import BotoCoreError

        try:
            found = self.session.get_credentials()
            frozen = found.get_frozen_credentials() if found is not None else None
        except BotoCoreError as e:
            raise self.credentials_error(e) from e
        if frozen is None or not frozen.access_key:
            raise self.credentials_error(None)
        return frozen

    @cached_property
    def ssm(self) -> SSMClient:
        from botocore.config import Config
        from botocore.exceptions import BotoCoreError

        # Throttling and transient faults are retried by botocore; the rest is ours to explain.
        config = Config(
            retries={"mode": "standard", "total_max_attempts": 3},
            connect_timeout=5,
            read_timeout=30,
        )
        try:
            client: SSMClient = self.session.client("ssm", config=config)
        except BotoCoreError as e:
            raise self.credentials_error(e) from e
        return client

    def credentials_error(self, error: BaseException | None) -> CredentialsError:
        """What to do about a credentials problem, by botocore's exception type."""
        from botocore import exceptions as b

        login = f"aws sso login --profile {self.profile_name}"
        if isinstance(error, b.ProfileNotFound):
            return CredentialsError(
                f"AWS profile {self.profile_name!r} does not exist in your AWS config.",
                "Check `aws configure list-profiles`, then pass --profile or set it with "
                "`bastion configure ENV --profile NAME`.",
            )
        if isinstance(error, b.UnauthorizedSSOTokenError | b.SSOTokenLoadError) or (
            isinstance(error, b.TokenRetrievalError) and error.kwargs.get("provider") == "sso"
        ):
            return CredentialsError(
                f"Your AWS SSO session for profile {self.profile_name!r} has expired or you "
                f"are not logged in ({error}).",
                f"Run: {login}",
            )
        if error is None or isinstance(error, b.NoCredentialsError):
            return CredentialsError(
                "No AWS credentials found.",
                f"Log in ({login}), or pass --profile, or set AWS_PROFILE / the "
                "AWS_ACCESS_KEY_ID variables.",
            )
        return CredentialsError(
            f"Your AWS credentials could not be loaded: {error}.",
            f"Check profile {self.profile_name!r} in ~/.aws/config; for SSO: {login}",
        )

    def expired_token(self, detail: str) -> CredentialsError:
        """AWS refused the credentials themselves (expired or unknown session token)."""
        return CredentialsError(
            f"AWS refused your credentials: {detail}.",
            f"Refresh them: aws sso login --profile {self.profile_name} (or renew the "
            "session whose keys are in your environment).",
        )


def error_code(error: BaseException) -> str:
    """The AWS error code of a botocore ``ClientError`` ("" for anything else)."""
    response: Any = getattr(error, "response", None)
    if isinstance(response, dict):
        return str(response.get("Error", {}).get("Code", ""))
    return ""
