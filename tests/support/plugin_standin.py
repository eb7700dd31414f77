"""A stand-in ``session-manager-plugin`` executable for tests, the demo and the bench.

Written into a directory the test puts first on ``PATH``. It answers ``--version`` like the
real one, and for a session it records exactly what it was started with (its argv, the
StartSession response it read from ``AWS_SSM_START_SESSION_RESPONSE`` or argv, its pid) as a
JSON line in ``records.jsonl``, then plays the next scripted behaviour (the last one repeats):

- ``tunnel``: as the real plugin's port forward prints it (``Port N opened for sessionId …``,
  ``Waiting for connections...``), really listening on localhost:N (accepting and closing
  connections), until SIGINT/SIGTERM: then ``Terminate signal received, exiting.`` and exit 0;
- ``exit``: fails at once (``Cannot perform start session: …``, exit code 1);
- ``shell``: a short-lived shell session (``Starting session…``, exit 0 after ~1 s, or at a
  signal).
"""

from __future__ import annotations

import json
import stat
import sys
from pathlib import Path
from typing import Any

VERSION = "1.2.707.0"

SCRIPT = r"""#!{python}
import json, os, signal, socket, sys, time

HERE = {here!r}
VERSION = {version!r}


def record(**entry):
    entry["pid"] = os.getpid()
    with open(os.path.join(HERE, "records.jsonl"), "a") as out:
        out.write(json.dumps(entry) + "\n")


def say(text):
    print(text, flush=True)


args = sys.argv
if args[1:] == ["--version"]:
    say(VERSION)
    sys.exit(0)
if len(args) != 7:
    say("Unknown operation")
    sys.exit(1)
with open(os.path.join(HERE, "plan.json")) as f:
    plan = json.load(f)
count_path = os.path.join(HERE, "count")
n = int(open(count_path).read()) if os.path.exists(count_path) else 0
open(count_path, "w").write(str(n + 1))
behaviour = plan[min(n, len(plan) - 1)]
from_env = args[1].startswith("AWS_SSM_START_SESSION_RESPONSE")
raw = os.environ.get(args[1], "") if from_env else args[1]
response = json.loads(raw)
request = json.loads(args[5])
record(event="start", behaviour=behaviour, argv=args, response=response,
       response_from_env=from_env)
session_id = response["SessionId"]
stopping = []


def stop(signum, frame):
    stopping.append(signum)
    record(event="signal", signal=signal.Signals(signum).name)


signal.signal(signal.SIGINT, stop)
signal.signal(signal.SIGTERM, stop)
say("")
say("Starting session with SessionId: " + session_id)
if behaviour == "exit":
    say("Cannot perform start session: failed to open the data channel (stand-in: exit at once)")
    record(event="exit", code=1)
    sys.exit(1)
if behaviour == "shell":
    ends = time.time() + 1.0
    while time.time() < ends and not stopping:
        time.sleep(0.05)
    say("Exiting session with sessionId: " + session_id + ".")
    record(event="exit", code=0)
    sys.exit(0)
port = int(request["Parameters"]["localPortNumber"][0])
listener = socket.socket()
listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
try:
    listener.bind(("127.0.0.1", port))
except OSError as e:
    say("Cannot perform start session: listen tcp 127.0.0.1:%d: "
        "bind: address already in use" % port)
    record(event="exit", code=1)
    sys.exit(1)
listener.listen(5)
listener.settimeout(0.1)
say("Port %d opened for sessionId %s." % (port, session_id))
say("Waiting for connections...")
while not stopping:
    try:
        conn, _ = listener.accept()
    except (socket.timeout, InterruptedError, OSError):
        continue
    say("Connection accepted for session [%s]" % session_id)
    record(event="connection")
    conn.close()
say("Terminate signal received, exiting.")
say("")
say("")
say("Exiting session with sessionId: %s." % session_id)
record(event="exit", code=0)
sys.exit(0)
"""


class PluginStandIn:
    def __init__(self, directory: Path, version: str = VERSION) -> None:
        self.dir = directory
        self.bin = directory / "bin"
        self.version = version

    def install(self, *behaviours: str) -> PluginStandIn:
        self.bin.mkdir(parents=True, exist_ok=True)
        path = self.bin / "session-manager-plugin"
        path.write_text(
            SCRIPT.format(python=sys.executable, here=str(self.dir), version=self.version)
        )
        path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
        return self.script(*(behaviours or ("tunnel",)))

    def script(self, *behaviours: str) -> PluginStandIn:
        (self.dir / "plan.json").write_text(json.dumps(list(behaviours)))
        (self.dir / "count").unlink(missing_ok=True)
        return self

    def records(self) -> list[dict[str, Any]]:
        path = self.dir / "records.jsonl"
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text().splitlines() if line]

    def starts(self) -> list[dict[str, Any]]:
        return [r for r in self.records() if r["event"] == "start"]

    def events(self, pid: int) -> list[str]:
        return [r.get("signal", r["event"]) for r in self.records() if r["pid"] == pid]
