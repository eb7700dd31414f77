"""The sweep's bounded clean-up through the real handler and boto3 calls, against moto."""

from __future__ import annotations

import pytest

from bastion_orchestrator.usecases import reaper
from tests.integration.test_auto_terminate import fire, launch
from tests.support.api_calls import counting

pytestmark = pytest.mark.integration


def test_a_budget_per_run_the_rest_next_run_and_a_warm_sweep_lists_nothing(
    aws, clock, lambda_context, monkeypatch
):
    # Given three bastions terminated by hand (six orphan schedules) and a budget of two calls
    monkeypatch.setattr(reaper, "DELETE_BUDGET", 2)
    ids = [launch(lambda_context, f"U{n}", f"user{n}") for n in range(3)]
    aws.ec2.terminate_instances(InstanceIds=ids)
    clock.advance(minutes=15)  # past the grace for just-launched instances
    # When the sweep runs in a cold container
    with counting() as calls:
        first = fire(lambda_context, "sweep")
    # Then it lists the group once and deletes two, leaving four
    assert calls["scheduler.ListSchedules"] == 1 and calls["scheduler.DeleteSchedule"] == 2
    assert first["schedules_deleted"] == 2 and first["schedules_left"] == 4
    assert len(aws.schedules()) == 4
    # And the next runs delete the rest by name, without listing again
    for left in (2, 0):
        clock.advance(minutes=15)
        with counting() as calls:
            result = fire(lambda_context, "sweep")
        # (two DescribeInstances: our tags, then the module's instance profile)
        assert calls == {"ec2.DescribeInstances": 2, "scheduler.DeleteSchedule": 2}
        assert result["schedules_left"] == left
    assert aws.schedules() == {}
    # And a warm sweep with nothing to do reads the instances (by tags, by profile), nothing else
    clock.advance(minutes=15)
    with counting() as calls:
        fire(lambda_context, "sweep")
    assert calls == {"ec2.DescribeInstances": 2}
