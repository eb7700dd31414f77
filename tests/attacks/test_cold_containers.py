"""A fresh Lambda container, as the cold-start diet leaves it (slack-sdk's package ``__init__``
deferred, imports made lazy in the entry, the wiring and the dispatcher): every door answers its
first event, a cold continuation still replies to Slack, slack-sdk imports in any order. Each
runs in a fresh interpreter (a subprocess), as a new container would, with every socket to
anything but 127.0.0.1 refused by an audit hook."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime
from typing import Any

import pytest

from tests.support import fresh
from tests.support.doors import SECRET, sealed
from tests.support.iam_requests import iam_event
from tests.support.slack_requests import slash_command

pytestmark = pytest.mark.integration


ROOT = fresh.ROOT


# Every cold script: a fresh interpreter, dummy credentials and moto's AMIs (tests.conftest),
# and an audit hook that refuses any connection or name lookup but 127.0.0.1's.
_GUARD = """
import sys
def _guard(event, args):
    if event == "socket.getaddrinfo" and args[0] not in ("127.0.0.1", "localhost", None):
        raise OSError(f"blocked lookup of {args[0]!r}")
    if event == "socket.connect" and isinstance(args[1], tuple) and args[1][0] != "127.0.0.1":
        raise OSError(f"blocked connection to {args[1]!r}")
sys.addaudithook(_guard)
"""


_SDK_ORDER = (
    _GUARD
    + """
import json
import bastion_orchestrator  # registers slack_sdk with its __init__ deferred
for statement in json.loads(sys.argv[1]):
    exec(statement)
import slack_sdk, logging
from slack_sdk import WebClient, WebhookClient
from slack_sdk.web import WebClient as Web
from slack_sdk.webhook import WebhookClient as Hook
assert WebClient is Web and WebhookClient is Hook
assert slack_sdk.__all__ == ["WebClient", "WebhookClient"]
assert any(type(h).__name__ == "NullHandler" for h in logging.getLogger("slack_sdk").handlers)
print("ok")
"""
)
SDK_ORDERS = {
    "signature, then the package's client": ["import slack_sdk.signature"],
    "blocks, then the package's client": ["import slack_sdk.models.blocks"],
    "the package's client first": ["from slack_sdk import WebClient"],
    "errors first": ["from slack_sdk.errors import SlackApiError"],
    "http_retry first": ["import slack_sdk.http_retry.builtin_handlers"],
    "a missing name first": ["assert not hasattr(__import__('slack_sdk'), 'nope')"],
    # The notifier's own imports: _post_webhook (response_url replies, webhook notices).
    "webhook submodule first": ["from slack_sdk.webhook import WebhookClient"],
    "signature, then the webhook submodule": [
        "import slack_sdk.signature",
        "from slack_sdk.webhook import WebhookClient",
    ],
    "web submodule first": ["from slack_sdk.web import WebClient"],
    "blocks, then the web submodule": ["import slack_sdk.models.blocks", "import slack_sdk.web"],
}


@pytest.mark.parametrize("name", list(SDK_ORDERS))
def test_the_deferred_slack_sdk_imports_in_any_order(name):
    # HOLE (the submodule-first orders): slack_sdk/web/internal_utils.py does
    # `from slack_sdk import version`; while the package's __init__ is deferred, that
    # from-import asks the package for `version`, its __getattr__ runs the real __init__, whose
    # `from .web import WebClient` finds slack_sdk.web half-imported: ImportError (circular
    # import). The notifier's _post_webhook does exactly `from slack_sdk.webhook import
    # WebhookClient`. Worse, the failed __init__ leaves the package without WebClient and
    # without its __getattr__: `from slack_sdk import WebClient` then fails for the rest of
    # the container's life.
    # Given a fresh interpreter where the project deferred slack_sdk's __init__
    done = fresh.run(_SDK_ORDER, json.dumps(SDK_ORDERS[name]))
    # When slack_sdk's modules are imported in this order, then the package's clients
    # Then every import works and the package ends up as slack-sdk itself sets it up
    assert done.returncode == 0 and done.stdout.strip().endswith("ok"), done.stderr[-1500:]


_COLD_CONTINUATION = (
    _GUARD
    + """
import json, time
from tests import conftest
from moto import mock_aws
from tests.support.slack_standin import SlackStandIn
standin = SlackStandIn().start()
with mock_aws():
    import boto3, os
    arn = boto3.client("secretsmanager").create_secret(Name="slack", SecretString=json.dumps({
        "signing_secret": sys.argv[1], "webhook_url": standin.webhook_url}))["ARN"]
    os.environ.update(json.loads(sys.argv[2]), SLACK_SECRET_ARN=arn, SLACK_API_URL=standin.api_url)
    import handler
    from bastion_orchestrator.adapters.slack import notifier
    post = notifier._post_webhook  # Slack's hooks host is routed to the stand-in, as in tests
    notifier._post_webhook = lambda url, what, **m: post(standin.local(url), what, **m)
    result = handler.lambda_handler(json.loads(sys.argv[3]), conftest.FakeLambdaContext())
    try:
        from slack_sdk import WebClient
        client_loads = True
    except ImportError:
        client_loads = False
    print(json.dumps({"result": result, "posted": [m.endpoint for m in standin.messages],
                      "client_loads": client_loads}))
standin.stop()
"""
)


def test_a_cold_continuation_replies_to_slack(aws):
    # HOLE: the first thing a fresh container does for a status/extend/destroy continuation
    # (and for any webhook-only notice) that touches slack_sdk's clients is
    # notifier._post_webhook's `from slack_sdk.webhook import WebhookClient`, which fails
    # under the deferred __init__ (see the test above). SlackJobs._deliver swallows it: the
    # requester's response_url reply and the channel webhook notice are silently lost, and
    # the container can no longer build a WebClient (every later DM fails too).
    # Given a genuine continuation for U12345's destroy (U12345 has no bastion), sealed a moment ago
    envelope = sealed(
        lambda: datetime.now(UTC),
        body=slash_command(
            "bastion destroy", response_url="https://hooks.slack.com/commands/T000/1234/abcd"
        ),
    )
    # When it is the first event of a fresh container
    outcome = fresh.last_json(_COLD_CONTINUATION, SECRET, json.dumps(aws.env), json.dumps(envelope))
    # Then it ran, the requester got the answer on the response_url and the webhook notice
    # was sent, and slack-sdk's Web API client still loads afterwards
    assert outcome["result"].get("error") != "FORBIDDEN", outcome
    assert {"response_url", "webhook"} <= set(outcome["posted"]), outcome
    assert outcome["client_loads"], outcome


_COLD_DOOR = (
    _GUARD
    + """
import json
from tests import conftest
from moto import mock_aws
with mock_aws():
    import os
    os.environ.update(json.loads(sys.argv[1]))
    event = json.loads(sys.argv[2])
    if sys.argv[3] == "auto_terminate":
        import auto_terminate
        result = auto_terminate.lambda_handler(event, conftest.FakeLambdaContext())
    else:
        import handler
        result = handler.lambda_handler(event, conftest.FakeLambdaContext())
    print(json.dumps(result))
"""
)


def _cold_events() -> dict[str, tuple[str, dict[str, Any]]]:
    forged = {"job": {"user_id": "U1"}, "issued_at": 1, "signature": "v1=00"}
    return {
        "iam list": ("handler", iam_event({"action": "list"})),
        "direct list": ("handler", {"action": "list", "user_id": "U12345"}),
        "forged continuation": ("handler", {"continuation": forged}),
        "scheduled sweep": ("auto_terminate", {"action": "sweep"}),
    }


def test_every_door_answers_its_first_event_in_a_fresh_container(aws):
    # Given one fresh interpreter per door (run side by side), each given a first event
    events = _cold_events()
    started = {
        name: subprocess.Popen(
            [sys.executable, "-c", _COLD_DOOR, json.dumps(aws.env), json.dumps(event), module],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=ROOT,
        )
        for name, (module, event) in events.items()
    }
    answers: dict[str, dict[str, Any]] = {}
    for name, process in started.items():
        out, err = process.communicate(timeout=60)
        # When the door's lazily imported modules load for the first time
        assert process.returncode == 0, (name, err[-2000:])
        answers[name] = json.loads(out.strip().splitlines()[-1])
    # Then each answers as it does warm
    assert answers["iam list"]["statusCode"] == 200
    assert answers["direct list"]["success"] is True
    assert answers["forged continuation"]["error"] == "FORBIDDEN"
    assert answers["scheduled sweep"].get("success", True) is not False, answers


def test_the_pydantic_plugin_switch_leaves_an_operators_choice_alone():
    # Given an operator who set PYDANTIC_DISABLE_PLUGINS themselves
    script = (
        "import os; os.environ['PYDANTIC_DISABLE_PLUGINS'] = 'logfire'\n"
        "import bastion_orchestrator; print(os.environ['PYDANTIC_DISABLE_PLUGINS'])"
    )
    done = fresh.run(script)
    # Then the package does not override it
    assert done.stdout.strip() == "logfire", done.stderr[-1500:]
