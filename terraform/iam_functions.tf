# IAM of the module's own functions: the roles of the orchestrator (the Slack function runs
# with it too) and of the auto-terminator, and EventBridge Scheduler's role, which may only
# invoke the auto-terminator. The shared locals at the top are used by iam_bastion.tf and
# iam_policies_for_others.tf as well (ec2_arn_prefix, scope_tags).

###############################################################################
# Shared pieces
###############################################################################

locals {
  ec2_arn_prefix = "arn:${local.partition}:ec2:${local.region}:${local.account_id}"

  bastion_subnet_arns = [for s in var.subnet_ids : "${local.ec2_arn_prefix}:subnet/${s}"]

  # Only the per-bastion schedules the code names `<project>-<env>-<instance id>-warning|termination`:
  # never the recurring sweep `<project>-<env>-sweep` in the same group (the safety net).
  bastion_schedule_arns = "arn:${local.partition}:scheduler:${local.region}:${local.account_id}:schedule/${local.schedule_group_name}/${local.name}-i-*"

  # Secrets Manager appends `-` and 6 random characters to a secret's name in its ARN. A partial
  # ARN (without them) works for GetSecretValue but not as an IAM resource: allow the suffix too.
  slack_secret_is_partial_arn = var.slack_secret_arn != null && !can(regex("-[A-Za-z0-9]{6}$", coalesce(var.slack_secret_arn, "x")))
  slack_secret_resources = var.slack_secret_arn == null ? [] : concat(
    [var.slack_secret_arn],
    local.slack_secret_is_partial_arn ? ["${var.slack_secret_arn}-??????"] : [],
  )

  ec2_via_service = "ec2.${local.region}.${local.dns_suffix}"

  # Tags that say "this bastion belongs to this deployment": every destructive action needs them.
  scope_tags = {
    ManagedBy   = local.managed_by
    Project     = var.project_name
    Environment = var.environment
  }

  # Snapshots have no account in their ARN.
  snapshot_arns = "arn:${local.partition}:ec2:${local.region}::snapshot/*"

  # Every tag key the code may put on a forensic snapshot (bastion_orchestrator/adapters/aws/ec2/,
  # Ec2Snapshots.take); the owner and reason keys only when the bastion had them.
  snapshot_tag_keys = [
    "ManagedBy",
    "Project",
    "Environment",
    "RequestedByUserId",
    "RequestedBy",
    "Reason",
    "Cause",
    "SourceInstanceId",
    "CreatedAt",
  ]

  # Tags the orchestrator and auto-terminator may never rewrite on an existing bastion.
  scope_tag_keys = keys(local.scope_tags)
}

data "aws_iam_policy_document" "lambda_assume" {
  statement {
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["lambda.amazonaws.com"]
    }
  }
}

# What both functions need: their own logs, traces, the dead-letter queue, the module key,
# the Slack secret and the idempotency table.
data "aws_iam_policy_document" "lambda_common" {
  statement {
    sid       = "XRayPutOnly"
    actions   = ["xray:PutTraceSegments", "xray:PutTelemetryRecords"]
    resources = ["*"] # X-Ray has no resource-level permissions for these actions.
  }

  statement {
    sid       = "DeadLetterQueue"
    actions   = ["sqs:SendMessage"]
    resources = [aws_sqs_queue.lambda_dlq.arn]
  }

  # The module key reaches the functions only through the services that use it for them: the
  # dead-letter queue (SQS) and the idempotency table (DynamoDB). Never a direct Decrypt, so a
  # function cannot open what the key protects elsewhere (session data keys, transcripts).
  statement {
    sid       = "ModuleKeyThroughQueueAndTableOnly"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = [aws_kms_key.this.arn]

    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["sqs.${local.region}.${local.dns_suffix}", "dynamodb.${local.region}.${local.dns_suffix}"]
    }
  }

  statement {
    sid       = "DescribeInstancesHasNoResourceScope"
    actions   = ["ec2:DescribeInstances"]
    resources = ["*"]
  }

  statement {
    sid       = "TerminateOnlyThisDeploymentsBastions"
    actions   = ["ec2:TerminateInstances"]
    resources = ["${local.ec2_arn_prefix}:instance/*"]

    dynamic "condition" {
      for_each = local.scope_tags
      content {
        test     = "StringEquals"
        variable = "ec2:ResourceTag/${condition.key}"
        values   = [condition.value]
      }
    }
  }


  # Forensic snapshots (snapshot_on_terminate): of this deployment's bastion volumes only, each
  # snapshot tagged as this deployment's when it is created (TagSpecifications, so there is no
  # moment it exists untagged), with no tag keys but the ones the code writes; deleted only
  # when tagged as ours.
  dynamic "statement" {
    for_each = var.snapshot_on_terminate ? [1] : []
    content {
      sid       = "SnapshotOnlyThisDeploymentsBastionVolumes"
      actions   = ["ec2:CreateSnapshot"]
      resources = ["${local.ec2_arn_prefix}:volume/*"]

      dynamic "condition" {
        for_each = local.scope_tags
        content {
          test     = "StringEquals"
          variable = "ec2:ResourceTag/${condition.key}"
          values   = [condition.value]
        }
      }
    }
  }

  dynamic "statement" {
    for_each = var.snapshot_on_terminate ? [1] : []
    content {
      sid       = "SnapshotsTaggedAsOursWhenCreated"
      actions   = ["ec2:CreateSnapshot"]
      resources = [local.snapshot_arns]

      dynamic "condition" {
        for_each = local.scope_tags
        content {
          test     = "StringEquals"
          variable = "aws:RequestTag/${condition.key}"
          values   = [condition.value]
        }
      }

      condition {
        test     = "ForAllValues:StringEquals"
        variable = "aws:TagKeys"
        values   = local.snapshot_tag_keys
      }
    }
  }

  dynamic "statement" {
    for_each = var.snapshot_on_terminate ? [1] : []
    content {
      sid       = "TagSnapshotsOnlyWhenCreatingThem"
      actions   = ["ec2:CreateTags"]
      resources = [local.snapshot_arns]

      condition {
        test     = "StringEquals"
        variable = "ec2:CreateAction"
        values   = ["CreateSnapshot"]
      }
    }
  }

  dynamic "statement" {
    for_each = var.snapshot_on_terminate ? [1] : []
    content {
      sid       = "DescribeSnapshotsHasNoResourceScope"
      actions   = ["ec2:DescribeSnapshots"]
      resources = ["*"] # Describe action without resource-level permissions.
    }
  }

  dynamic "statement" {
    for_each = var.snapshot_on_terminate ? [1] : []
    content {
      sid       = "DeleteOnlyThisDeploymentsSnapshots"
      actions   = ["ec2:DeleteSnapshot"]
      resources = [local.snapshot_arns]

      dynamic "condition" {
        for_each = local.scope_tags
        content {
          test     = "StringEquals"
          variable = "ec2:ResourceTag/${condition.key}"
          values   = [condition.value]
        }
      }
    }
  }

  # The code only ever adds or overwrites tags. A DeleteTags that names no keys strips every
  # tag (and the tag conditions above with them), so it is denied outright, whatever keys.
  statement {
    sid       = "NeverDeleteTags"
    effect    = "Deny"
    actions   = ["ec2:DeleteTags"]
    resources = ["*"]
  }

  dynamic "statement" {
    for_each = var.slack_secret_arn == null ? [] : [1]
    content {
      sid       = "ReadOnlyTheSlackSecret"
      actions   = ["secretsmanager:GetSecretValue"]
      resources = local.slack_secret_resources
    }
  }

  dynamic "statement" {
    for_each = var.slack_secret_kms_key_arn == null ? [] : [var.slack_secret_kms_key_arn]
    content {
      sid       = "DecryptTheSlackSecret"
      actions   = ["kms:Decrypt"]
      resources = [statement.value]

      condition {
        test     = "StringEquals"
        variable = "kms:ViaService"
        values   = ["secretsmanager.${local.region}.${local.dns_suffix}"]
      }
    }
  }
}

###############################################################################
# Orchestrator
###############################################################################

# After launch each function may write only its own tags on this deployment's bastions: the
# orchestrator ExpiresAt and ExtendedByRequest (extend, and the request that did it), plus
# GrantedUntil, ExtensionApprovedBy and BreakGlass (an extension granted by an approver or a
# new break-glass, in a protected environment), the auto-terminator WarnedFor (warning sent)
# and ReadyNotified (a Slack requester told their bastion is ready, or why not). Ownership,
# creation time and scope tags can never be rewritten by either.
data "aws_iam_policy_document" "retag" {
  for_each = {
    orchestrator   = { sid = "ExpiresAt", keys = ["ExpiresAt", "ExtendedByRequest", "GrantedUntil", "ExtensionApprovedBy", "BreakGlass"] }
    auto_terminate = { sid = "WarnedFor", keys = ["WarnedFor", "ReadyNotified"] }
  }

  statement {
    sid       = "RetagOnly${each.value.sid}OnThisDeploymentsBastions"
    actions   = ["ec2:CreateTags"]
    resources = ["${local.ec2_arn_prefix}:instance/*"]

    dynamic "condition" {
      for_each = local.scope_tags
      content {
        test     = "StringEquals"
        variable = "ec2:ResourceTag/${condition.key}"
        values   = [condition.value]
      }
    }

    condition {
      test     = "ForAllValues:StringEquals"
      variable = "aws:TagKeys"
      values   = each.value.keys
    }
  }
}

data "aws_iam_policy_document" "orchestrator" {
  source_policy_documents = [
    data.aws_iam_policy_document.lambda_common.json,
    data.aws_iam_policy_document.retag["orchestrator"].json,
  ]


  statement {
    sid     = "OwnLogGroupOnly"
    actions = ["logs:CreateLogStream", "logs:PutLogEvents"]
    # The Slack function runs with this role too, into its own log group.
    resources = [
      "${aws_cloudwatch_log_group.function["orchestrator"].arn}:*",
      "arn:${local.partition}:logs:${local.region}:${local.account_id}:log-group:${local.slack_log_group}:*",
    ]
  }

  # RunInstances is authorised per resource it touches; one statement per resource type.
  statement {
    sid       = "RunInstancesTaggedTypedImdsv2WithTheBastionProfile"
    actions   = ["ec2:RunInstances"]
    resources = ["${local.ec2_arn_prefix}:instance/*"]

    dynamic "condition" {
      for_each = local.scope_tags
      content {
        test     = "StringEquals"
        variable = "aws:RequestTag/${condition.key}"
        values   = [condition.value]
      }
    }

    condition {
      test     = "StringEquals"
      variable = "ec2:InstanceType"
      values   = [var.instance_type]
    }

    condition {
      test     = "StringEquals"
      variable = "ec2:MetadataHttpTokens"
      values   = ["required"]
    }

    # IMDS answers only the instance itself (no container or forwarded hop reaches it) and
    # does not expose the bastion's tags (owner, reason) to whatever runs on it.
    condition {
      test     = "NumericEquals"
      variable = "ec2:MetadataHttpPutResponseHopLimit"
      values   = ["1"]
    }

    condition {
      test     = "StringEquals"
      variable = "ec2:InstanceMetadataTags"
      values   = ["disabled"]
    }

    condition {
      test     = "ArnEquals"
      variable = "ec2:InstanceProfile"
      values   = [aws_iam_instance_profile.bastion.arn]
    }
  }

  statement {
    sid       = "RunInstancesEncryptedTaggedVolumes"
    actions   = ["ec2:RunInstances"]
    resources = ["${local.ec2_arn_prefix}:volume/*"]

    condition {
      test     = "StringEquals"
      variable = "aws:RequestTag/ManagedBy"
      values   = [local.managed_by]
    }

    condition {
      test     = "Bool"
      variable = "ec2:Encrypted"
      values   = ["true"]
    }
  }

  statement {
    sid     = "RunInstancesOnlyInTheModulesSubnetsAndSecurityGroup"
    actions = ["ec2:RunInstances"]
    resources = concat(local.bastion_subnet_arns, [
      "${local.ec2_arn_prefix}:security-group/${aws_security_group.bastion.id}",
    ])
  }

  statement {
    sid       = "RunInstancesNetworkInterfaceInThoseSubnetsWithoutPublicIp"
    actions   = ["ec2:RunInstances"]
    resources = ["${local.ec2_arn_prefix}:network-interface/*"]

    condition {
      test     = "ArnEquals"
      variable = "ec2:Subnet"
      values   = local.bastion_subnet_arns
    }

    condition {
      test     = "Bool"
      variable = "ec2:AssociatePublicIpAddress"
      values   = ["false"]
    }
  }

  # Accounts that encrypt EBS by default with a customer managed key: EC2 creates the root
  # volume with that key on the caller's behalf, through a grant.
  dynamic "statement" {
    for_each = var.ebs_kms_key_arn == null ? [] : [var.ebs_kms_key_arn]
    content {
      sid       = "DefaultEbsKeyThroughEc2Only"
      actions   = ["kms:GenerateDataKeyWithoutPlaintext", "kms:Decrypt", "kms:DescribeKey", "kms:ReEncrypt*"]
      resources = [statement.value]

      condition {
        test     = "StringEquals"
        variable = "kms:ViaService"
        values   = [local.ec2_via_service]
      }
    }
  }

  dynamic "statement" {
    for_each = var.ebs_kms_key_arn == null ? [] : [var.ebs_kms_key_arn]
    content {
      sid       = "DefaultEbsKeyGrantForTheVolumeOnly"
      actions   = ["kms:CreateGrant"]
      resources = [statement.value]

      condition {
        test     = "StringEquals"
        variable = "kms:ViaService"
        values   = [local.ec2_via_service]
      }

      condition {
        test     = "Bool"
        variable = "kms:GrantIsForAWSResource"
        values   = ["true"]
      }
    }
  }

  # Exactly one image: ami_id, or the AL2023 arm64 release the public parameter named at plan
  # time (main.tf explains why IAM cannot express "the AL2023 arm64 family").
  statement {
    sid       = "RunInstancesOnlyThePinnedImage"
    actions   = ["ec2:RunInstances"]
    resources = ["arn:${local.partition}:ec2:${local.region}::image/${local.ami_id}"]
  }

  statement {
    sid     = "TagOnlyAtLaunch"
    actions = ["ec2:CreateTags"]
    resources = [
      "${local.ec2_arn_prefix}:instance/*",
      "${local.ec2_arn_prefix}:volume/*",
    ]

    condition {
      test     = "StringEquals"
      variable = "ec2:CreateAction"
      values   = ["RunInstances"]
    }
  }

  statement {
    sid       = "PassOnlyTheBastionRoleToEc2"
    actions   = ["iam:PassRole"]
    resources = [aws_iam_role.bastion.arn]

    condition {
      test     = "StringEquals"
      variable = "iam:PassedToService"
      values   = ["ec2.${local.dns_suffix}"]
    }
  }

  statement {
    sid       = "PassOnlyTheSchedulerRoleToScheduler"
    actions   = ["iam:PassRole"]
    resources = [aws_iam_role.scheduler.arn]

    condition {
      test     = "StringEquals"
      variable = "iam:PassedToService"
      values   = ["scheduler.${local.dns_suffix}"]
    }
  }

  statement {
    sid = "PerBastionSchedulesOnlyNeverTheSweep"
    actions = [
      "scheduler:CreateSchedule",
      "scheduler:UpdateSchedule",
      "scheduler:DeleteSchedule",
    ]
    resources = [local.bastion_schedule_arns]
  }

  statement {
    sid       = "AgentStatusHasNoResourceScope"
    actions   = ["ssm:DescribeInstanceInformation"]
    resources = ["*"] # Describe action without resource-level permissions.
  }

  # The Slack door invokes context.invoked_function_arn, which carries `:<alias>` (or
  # `:<version>`) when the function was invoked through one: the Slack function's own, or
  # the orchestrator's (create_function_url = false leaves no Slack function).
  statement {
    sid     = "AsynchronousSelfInvocationForSlowSlackWork"
    actions = ["lambda:InvokeFunction"]
    resources = [
      local.orchestrator_arn,
      "${local.orchestrator_arn}:*",
      local.slack_function_arn,
      "${local.slack_function_arn}:*",
    ]
  }

  # "Why isn't my bastion ready?": read-only checks made only when one is slow to come online
  # (instance profile, HTTPS egress, SSM endpoints or a NAT gateway). No resource scope exists.
  statement {
    sid = "ReadinessDiagnosisHasNoResourceScope"
    actions = [
      "ec2:DescribeSecurityGroups",
      "ec2:DescribeVpcEndpoints",
      "ec2:DescribeNatGateways",
    ]
    resources = ["*"]
  }

  # Powertools idempotency of the Slack jobs, the per-user launch slots, approval requests.
  dynamic "statement" {
    for_each = var.create_idempotency_table ? [1] : []
    content {
      sid = "IdempotencyRecordsAndUserSlots"
      actions = [
        "dynamodb:GetItem",
        "dynamodb:PutItem",
        "dynamodb:UpdateItem",
        "dynamodb:DeleteItem",
      ]
      resources = [aws_dynamodb_table.idempotency[0].arn]
    }
  }
}

resource "aws_iam_role" "orchestrator" {
  name                 = "${local.name}-bastion-orchestrator"
  description          = "Lambda ${local.orchestrator_function_name}: launches, retags, schedules and terminates this deployment's bastions"
  assume_role_policy   = data.aws_iam_policy_document.lambda_assume.json
  max_session_duration = 3600
  tags                 = local.tags
}

resource "aws_iam_role_policy" "orchestrator" {
  name   = "bastion-orchestrator"
  role   = aws_iam_role.orchestrator.id
  policy = data.aws_iam_policy_document.orchestrator.json
}

###############################################################################
# Auto-terminator
###############################################################################

data "aws_iam_policy_document" "auto_terminate" {
  source_policy_documents = [
    data.aws_iam_policy_document.lambda_common.json,
    data.aws_iam_policy_document.retag["auto_terminate"].json,
  ]

  statement {
    sid       = "OwnLogGroupOnly"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.function["auto_terminate"].arn}:*"]
  }

  # The sweep also finds bastions by the module's instance profile (DescribeInstances filtered
  # on iam-instance-profile.arn), so a bastion someone stripped of its tags still dies at its
  # cap: it may be terminated without our tags when it carries the module's profile, which
  # the module gives to bastions only (tag_protection_policy_json keeps everyone but the
  # orchestrator from passing the bastion role).
  statement {
    sid       = "TerminateBastionsByTheModulesInstanceProfile"
    actions   = ["ec2:TerminateInstances"]
    resources = ["${local.ec2_arn_prefix}:instance/*"]

    condition {
      test     = "ArnEquals"
      variable = "ec2:InstanceProfile"
      values   = [aws_iam_instance_profile.bastion.arn]
    }
  }

  statement {
    sid       = "CleanUpPerBastionSchedulesOnlyNeverTheSweep"
    actions   = ["scheduler:DeleteSchedule"]
    resources = [local.bastion_schedule_arns]
  }

  statement {
    sid       = "ListSchedulesHasNoResourceScope"
    actions   = ["scheduler:ListSchedules"]
    resources = ["*"] # The sweep lists the group with the deployment's name prefix.
  }

  statement {
    sid       = "SessionActivityHasNoResourceScope"
    actions   = ["ssm:DescribeSessions"]
    resources = ["*"] # Idle reaping (IDLE_MINUTES): active sessions, and a bastion's history.
  }

  # The readiness checks of a bastion launched from Slack (`ready` events, from one-shot
  # schedules the orchestrator puts): one look at its agent, and at the last check the
  # read-only diagnosis of why it is not online. The schedules are put up front, so this
  # role writes no schedule and passes no role. No resource scope exists for these.
  statement {
    sid = "ReadinessCheckAndDiagnosisHaveNoResourceScope"
    actions = [
      "ssm:DescribeInstanceInformation",
      "ec2:DescribeSecurityGroups",
      "ec2:DescribeVpcEndpoints",
      "ec2:DescribeNatGateways",
    ]
    resources = ["*"]
  }

  # Releasing the requester's launch slot when a bastion is terminated.
  dynamic "statement" {
    for_each = var.create_idempotency_table ? [1] : []
    content {
      sid       = "ReleaseUserSlotsOnly"
      actions   = ["dynamodb:DeleteItem"]
      resources = [aws_dynamodb_table.idempotency[0].arn]
    }
  }

  # The sweep expires approval requests nobody answered in time (a scan of pending ones, then
  # one conditional update each, and the requester's pointer is dropped).
  dynamic "statement" {
    for_each = var.create_idempotency_table && var.approval_required ? [1] : []
    content {
      sid       = "ExpireUnansweredApprovalRequests"
      actions   = ["dynamodb:Scan", "dynamodb:GetItem", "dynamodb:UpdateItem"]
      resources = [aws_dynamodb_table.idempotency[0].arn]
    }
  }
}

resource "aws_iam_role" "auto_terminate" {
  name                 = "${local.name}-bastion-auto-terminate"
  description          = "Lambda ${local.auto_terminate_function_name}: warns about and terminates this deployment's expired bastions"
  assume_role_policy   = data.aws_iam_policy_document.lambda_assume.json
  max_session_duration = 3600
  tags                 = local.tags
}

resource "aws_iam_role_policy" "auto_terminate" {
  name   = "bastion-auto-terminate"
  role   = aws_iam_role.auto_terminate.id
  policy = data.aws_iam_policy_document.auto_terminate.json
}

###############################################################################
# EventBridge Scheduler's role: may only invoke the auto-terminator
###############################################################################

data "aws_iam_policy_document" "scheduler_assume" {
  statement {
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["scheduler.${local.dns_suffix}"]
    }

    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }

    # Confused-deputy guard: only schedules of this module's group (the documented value is
    # the schedule group's ARN, not a schedule's).
    condition {
      test     = "ArnEquals"
      variable = "aws:SourceArn"
      values   = [aws_scheduler_schedule_group.this.arn] # arn:<partition>:scheduler:<region>:<account>:schedule-group/<group>
    }
  }
}

data "aws_iam_policy_document" "scheduler" {
  statement {
    sid = "InvokeOnlyTheAutoTerminator"
    # WARNING_LAMBDA_ARN is the auto-terminator as well.
    actions   = ["lambda:InvokeFunction"]
    resources = [local.auto_terminate_arn, "${local.auto_terminate_arn}:*"]
  }

  statement {
    sid       = "SweepDeadLetterQueue"
    actions   = ["sqs:SendMessage"]
    resources = [aws_sqs_queue.sweep_dlq.arn]
  }

  statement {
    sid       = "ModuleKeyForTheDeadLetterQueueAndSchedulePayload"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = [aws_kms_key.this.arn]
  }
}

resource "aws_iam_role" "scheduler" {
  name                 = "${local.name}-bastion-scheduler"
  description          = "EventBridge Scheduler: invokes ${local.auto_terminate_function_name} for warnings, terminations and the sweep"
  assume_role_policy   = data.aws_iam_policy_document.scheduler_assume.json
  max_session_duration = 3600
  tags                 = local.tags
}

resource "aws_iam_role_policy" "scheduler" {
  name   = "invoke-auto-terminate"
  role   = aws_iam_role.scheduler.id
  policy = data.aws_iam_policy_document.scheduler.json
}
