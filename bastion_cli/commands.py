"""``bastion status | extend | destroy | list | configure``: one door call each, printed for
people or, with ``--json``, the orchestrator's answer as it came."""

from __future__ import annotations

import json
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

from bastion_cli import config as cfg
from bastion_cli.aws import Aws
from bastion_cli.bastion import Bastion, clock_time, describe_remaining
from bastion_cli.config import Environment
from bastion_cli.door import Door
from bastion_cli.errors import Exit, NotFound, UsageError
from bastion_cli.ui import Ui


def status(door: Door, ui: Ui, *, instance_id: str | None, as_json: bool) -> Exit:
    try:
        answer = door.call("status", **_target(instance_id))
    except NotFound as e:
        if instance_id:
            raise
        env = door.env.name
        raise NotFound(
            f"You have no active bastion in {env}.",
            f"`bastion connect {env}` creates one.",
            code=e.code,
        ) from e
    bastion = Bastion.from_answer(answer)
    exit_code = Exit.NOT_FOUND if bastion.gone else Exit.OK
    if as_json:
        _print_json(ui, answer)
        return exit_code
    env = door.env.name
    agent = "ready" if bastion.ready else f"agent {bastion.ssm_status or 'unknown'}"
    ui.out(f"{env}: {bastion.instance_id} {bastion.state or '?'}, {agent}")
    if not bastion.gone:
        ui.out(f"  expires {_expiry(bastion)}; requested by {answer.get('requested_by', '?')}")
        if bastion.forward:
            ui.out(f"  database {bastion.forward.host}:{bastion.forward.port}")
        ui.out(f"  connect: bastion connect {env}   extend: bastion extend {env}")
    return exit_code


def extend(door: Door, ui: Ui, *, instance_id: str | None, as_json: bool) -> Exit:
    answer = door.call("extend", **_target(instance_id))
    if as_json:
        _print_json(ui, answer)
        return Exit.OK
    bastion = Bastion.from_answer(answer)
    ui.out(f"Extended {bastion.instance_id}: it now expires at {_expiry(bastion)}.")
    if answer.get("capped"):
        ui.warn(str(answer.get("message") or "That was the last extension (the hard cap)."))
    return Exit.OK


def destroy(door: Door, ui: Ui, *, instance_id: str | None, as_json: bool) -> Exit:
    answer = door.call("destroy", **_target(instance_id))
    if as_json:
        _print_json(ui, answer)
        return Exit.OK
    iid = answer.get("instance_id", "?")
    if answer.get("already_terminated"):
        ui.out(f"{iid} was already {answer.get('state', 'terminated')}.")
    else:
        ui.out(f"Destroyed {iid} ({answer.get('state', 'shutting-down')}); its schedules are gone.")
    return Exit.OK


def list_(door: Door, ui: Ui, *, as_json: bool) -> Exit:
    answer = door.call("list")
    if as_json:
        _print_json(ui, answer)
        return Exit.OK
    bastions = answer.get("bastions") or []
    if not bastions:
        env = door.env.name
        ui.out(f"No active bastions in {env}. `bastion connect {env}` makes one.")
        return Exit.OK
    rows = [("INSTANCE", "STATE", "EXPIRES", "REQUESTED BY")]
    for item in bastions:
        b = Bastion.from_answer(item)
        state, owner = str(item.get("state", "")), str(item.get("requested_by", ""))
        rows.append((b.instance_id, state, _expiry(b), owner))
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    for row in rows:
        cells = (cell.ljust(width) for cell, width in zip(row, widths, strict=True))
        ui.out("  ".join(cells).rstrip())
    return Exit.OK


def configure(ui: Ui, args: Any) -> Exit:
    config = cfg.load(Path(args.config) if args.config else None)
    if args.show:
        return _show(ui, config)
    values: dict[str, Any] = {}
    if args.from_terraform:
        values = _terraform_values(args.from_terraform)
    name = args.env or values.pop("environment", None)
    values.pop("environment", None)
    if not name:
        raise UsageError(
            "Which environment? Name it: bastion configure ENV --url URL --region REGION",
            "Or read the module's output: bastion configure --from-terraform cli_config.json",
        )
    env = cfg.validated(_environment(name, config.environments.get(name), values, args))
    config.environments[name] = env
    if args.default or config.default is None or config.default not in config.environments:
        config.default = name
    cfg.save(config)
    ui.out(f"Configured {name}: {env.url} ({env.region}) in {config.path}.")
    ui.out(f"Next: bastion connect{'' if config.default == name else ' ' + name}")
    return Exit.OK


def _environment(
    name: str, previous: Environment | None, values: dict[str, Any], args: Any
) -> Environment:
    """What was configured before, then the module's outputs, then the flags: each one wins
    over the one before."""
    flags = {
        "url": args.url,
        "region": args.region,
        "profile": args.profile,
        "project": args.project,
        "database": args.database,
        "db_user": args.db_user,
        "engine": args.engine,
    }
    known = {k: v for k, v in values.items() if k in flags and v is not None}
    merged = {**(vars(previous) if previous else {}), **known}
    merged.update({k: v for k, v in flags.items() if v is not None})
    merged["name"] = name
    if not merged.get("url") or not merged.get("region"):
        raise UsageError(
            f"Environment {name!r} needs --url (the module's iam_door_url) and --region.",
            "Or read both from the module: bastion configure --from-terraform cli_config.json",
        )
    fields: dict[str, Any] = {k: merged.get(k) for k in Environment.__dataclass_fields__}
    return Environment(**fields)


def _terraform_values(source: str) -> dict[str, Any]:
    try:
        text = sys.stdin.read() if source == "-" else Path(source).read_text(encoding="utf-8")
    except OSError as e:
        raise UsageError(
            f"Cannot read {source}: {e.strerror}.", "Give the file's path, or - for stdin."
        ) from e
    data = cfg.from_terraform(text)
    return {k: (str(v) if v is not None else None) for k, v in data.items()}


def _show(ui: Ui, config: cfg.Config) -> Exit:
    if not config.environments:
        ui.out(f"No environments configured ({config.path}).")
        return Exit.NOT_CONFIGURED
    ui.out(f"# {config.path}")
    for name, env in sorted(config.environments.items()):
        mark = " (default)" if name == config.default else ""
        details = ", ".join(
            f"{k}={v}" for k, v in vars(env).items() if k not in {"name", "url"} and v is not None
        )
        ui.out(f"{name}{mark}: {env.url}  {details}")
    return Exit.OK


def door_for(args: Any) -> tuple[Door, Aws, Environment]:
    """The environment from the config, with --profile/--region applied."""
    config = cfg.load(Path(args.config) if args.config else None)
    env = config.environment(args.env)
    if args.region:
        env = cfg.validated(replace(env, region=args.region))
    aws = Aws(region=env.region, profile=args.profile or env.profile)
    return Door(env, aws), aws, env


def _target(instance_id: str | None) -> dict[str, str]:
    return {"instance_id": instance_id} if instance_id else {}


def _expiry(bastion: Bastion) -> str:
    left = bastion.seconds_left
    when = f" (in {describe_remaining(left)})" if left is not None and left > 0 else ""
    return f"{clock_time(bastion.expires_at)}{when}"


def _print_json(ui: Ui, answer: dict[str, Any]) -> None:
    ui.out(json.dumps(answer, indent=2, sort_keys=True))
