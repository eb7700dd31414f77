"""slack-sdk with its HTTP clients deferred (bastion_orchestrator/slack/sdk.py), in fresh
interpreters: the package state of this test process is not a cold start's."""

from __future__ import annotations

import pytest

from tests.support import fresh

pytestmark = pytest.mark.unit


def test_the_verifier_and_block_kit_load_without_the_http_clients():
    result = fresh.last_json(
        "import json, sys, bastion_orchestrator\n"
        "from slack_sdk.signature import SignatureVerifier\n"
        "from slack_sdk.models.blocks import SectionBlock\n"
        "print(json.dumps({'web': any(m.startswith(('slack_sdk.web', 'slack_sdk.webhook'))"
        " for m in sys.modules), 'verifier': SignatureVerifier.__module__}))"
    )
    assert result == {"web": False, "verifier": "slack_sdk.signature"}


def test_the_first_use_of_a_client_runs_the_real_init_once_for_every_thread():
    # Given the verifier already loaded (the ack), then eight threads asking for the client
    result = fresh.last_json(
        "import json, sys, threading, bastion_orchestrator\n"
        "import slack_sdk.signature, slack_sdk\n"
        "loader = type(slack_sdk.__spec__.loader)\n"
        "runs = []\n"
        "real = loader.exec_module\n"
        "loader.exec_module = lambda self, m: (runs.append(m.__name__), real(self, m))[1]\n"
        "gate, got, errors = threading.Barrier(8), [], []\n"
        "def use():\n"
        "    gate.wait()\n"
        "    try: got.append(slack_sdk.WebClient.__module__)\n"
        "    except Exception as e: errors.append(repr(e))\n"
        "threads = [threading.Thread(target=use) for _ in range(8)]\n"
        "[t.start() for t in threads]; [t.join() for t in threads]\n"
        "from slack_sdk import WebhookClient\n"
        "try:\n"
        "    slack_sdk.no_such_name\n"
        "    missing = 'found'\n"
        "except AttributeError:\n"
        "    missing = 'AttributeError'\n"
        "print(json.dumps({'got': sorted(set(got)), 'n': len(got), 'errors': errors,\n"
        "  'inits': runs.count('slack_sdk'), 'webhook': WebhookClient.__module__,\n"
        "  'missing': missing, 'same': sys.modules['slack_sdk'] is slack_sdk}))"
    )
    # Then every thread got the Web API client, slack_sdk's __init__ ran exactly once, in the
    # one package object, and an unknown name is still an AttributeError
    assert result == {
        "got": ["slack_sdk.web.client"],
        "n": 8,
        "errors": [],
        "inits": 1,
        "webhook": "slack_sdk.webhook.client",
        "missing": "AttributeError",
        "same": True,
    }
