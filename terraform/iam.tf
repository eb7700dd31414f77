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

  # Every tag key the code may put on a forensic snapshot (bastion_orchestrator/aws/ec2.py,
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
      "${aws_cloudwatch_log_group.orchestrator.arn}:*",
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
    resources = ["${aws_cloudwatch_log_group.auto_terminate.arn}:*"]
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

###############################################################################
# The bastion instance: Session Manager only
###############################################################################

data "aws_iam_policy_document" "ec2_assume" {
  statement {
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["ec2.${local.dns_suffix}"]
    }
  }
}

resource "aws_iam_role" "bastion" {
  name                 = "${local.name}-bastion-instance"
  description          = "Bastion instances of ${local.name}: SSM Session Manager only"
  assume_role_policy   = data.aws_iam_policy_document.ec2_assume.json
  max_session_duration = 3600
  tags                 = local.tags
}

locals {
  session_log_group_arn   = "arn:${local.partition}:logs:${local.region}:${local.account_id}:log-group:${local.session_log_group}"
  session_logs_bucket_arn = "arn:${local.partition}:s3:::${local.session_logs_bucket}"
  s3_via_service          = "s3.${local.region}.${local.dns_suffix}"

  # The encryption context the SSM agent decrypts a session's data key with (the client that
  # started the session generated it with the same one).
  session_key_context = {
    "kms:EncryptionContext:aws:ssm:SessionId" = ["*"]
    "kms:EncryptionContext:aws:ssm:TargetId"  = ["i-*"]
  }

  # S3 encrypts transcripts with the module key on the uploader's behalf: the context is the
  # bucket (bucket keys) or the object.
  transcript_key_context = [local.session_logs_bucket_arn, "${local.session_logs_bucket_arn}/${local.session_logs_prefix}/*"]
}

# What the SSM agent needs for Session Manager and session logging, and nothing else. This is
# AWS's "minimal Session Manager permissions" instance profile (Systems Manager user guide,
# "Create a custom IAM role for Session Manager") plus the logging it describes:
#   - ssm:UpdateInstanceInformation: the agent's heartbeat (PingStatus Online, `ready`);
#   - ssmmessages:Create/Open Control/Data Channel: the session channels themselves;
#   - writing to the session log group (and checking it is encrypted), decrypting the
#     session's data key, putting transcripts into the S3 bucket.
# Deliberately not granted (AmazonSSMManagedInstanceCore had them all):
#   - ec2messages:*: Run Command's channel ("required to send and receive commands", AWS's
#     reference on ec2messages and ssmmessages); sessions use ssmmessages only, and nothing
#     should run on a bastion that its user did not type into a logged session;
#   - ssm:GetDocument, ssm:DescribeDocument, ssm:ListAssociations, ssm:ListInstanceAssociations,
#     ssm:UpdateInstanceAssociationStatus, ssm:PutInventory, ssm:PutComplianceItems,
#     ssm:PutConfigurePackageResult, ssm:DescribeAssociation, ssm:GetManifest: State Manager,
#     Inventory, Distributor and Run Command, none of which a bastion uses; a session's
#     preferences reach the agent inside the session's own start message;
#   - ssm:GetParameter(s) on "*": every parameter of the account, SecureStrings on the
#     default key included, for anyone on a bastion (the instance role's credentials are
#     served to every local user, root or not).
data "aws_iam_policy_document" "bastion_instance" {
  statement {
    sid       = "AgentHeartbeat"
    actions   = ["ssm:UpdateInstanceInformation"]
    resources = ["${local.ec2_arn_prefix}:instance/*"]
  }

  statement {
    sid = "SessionChannels"
    actions = [
      "ssmmessages:CreateControlChannel",
      "ssmmessages:CreateDataChannel",
      "ssmmessages:OpenControlChannel",
      "ssmmessages:OpenDataChannel",
    ]
    resources = ["*"] # ssmmessages has no resource-level permissions.
  }

  # Transcripts: new streams and new events in the session log group only. No
  # DeleteLogStream, DeleteLogGroup, PutRetentionPolicy or DeleteRetentionPolicy: a session
  # user cannot delete a transcript or shorten its life, and CloudWatch Logs has no API that
  # edits an event once written. They can append (events, streams) to this group.
  dynamic "statement" {
    for_each = local.session_logging ? [1] : []
    content {
      sid       = "AppendToTheSessionLogGroupOnly"
      actions   = ["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"]
      resources = ["${local.session_log_group_arn}:*"]
    }
  }

  dynamic "statement" {
    for_each = local.session_logging ? [1] : []
    content {
      sid       = "AgentChecksTheLogGroupIsEncrypted"
      actions   = ["logs:DescribeLogGroups"]
      resources = ["arn:${local.partition}:logs:${local.region}:${local.account_id}:log-group:*"]
    }
  }

  # The agent decrypts the data key of a session on this bastion (shell and port forward),
  # with the context Session Manager binds it to. Never a plain Decrypt of what the module
  # key protects elsewhere (queues, table, logs): those carry other contexts.
  dynamic "statement" {
    for_each = local.session_key_in_use ? [1] : []
    content {
      sid       = "SessionDataKeysOnly"
      actions   = ["kms:Decrypt"]
      resources = [aws_kms_key.this.arn]

      dynamic "condition" {
        for_each = local.session_key_context
        content {
          test     = "StringLike"
          variable = condition.key
          values   = condition.value
        }
      }
    }
  }

  # Transcripts to S3: a new object under the prefix (an overwrite becomes a new version; the
  # role can neither read, delete nor expire objects, nor change the bucket).
  dynamic "statement" {
    for_each = local.session_logs_s3 ? [1] : []
    content {
      sid       = "PutTranscriptsUnderThePrefixOnly"
      actions   = ["s3:PutObject"]
      resources = ["${local.session_logs_bucket_arn}/${local.session_logs_prefix}/*"]
    }
  }

  dynamic "statement" {
    for_each = local.session_logs_s3 ? [1] : []
    content {
      sid       = "AgentChecksTheBucketIsEncrypted"
      actions   = ["s3:GetEncryptionConfiguration"]
      resources = [local.session_logs_bucket_arn]
    }
  }

  # S3 asks KMS for the transcript's data key on the uploader's behalf (Decrypt as well for a
  # multipart upload): only through S3 and only for this bucket.
  dynamic "statement" {
    for_each = local.session_logs_s3 ? [1] : []
    content {
      sid       = "TranscriptKeysThroughS3Only"
      actions   = ["kms:GenerateDataKey", "kms:Decrypt"]
      resources = [aws_kms_key.this.arn]

      condition {
        test     = "StringEquals"
        variable = "kms:ViaService"
        values   = [local.s3_via_service]
      }

      condition {
        test     = "StringLike"
        variable = "kms:EncryptionContext:aws:s3:arn"
        values   = local.transcript_key_context
      }
    }
  }

  # The credentials work only on the bastion they were issued to. Every instance-role
  # credential carries the instance's VPC and primary private IP (aws:Ec2InstanceSourceVpc,
  # aws:Ec2InstanceSourcePrivateIPv4); a request through a VPC endpoint carries the VPC and
  # address it came from (aws:SourceVpc, aws:VpcSourceIp). AWS's documented pattern compares
  # the two. Requests that reach AWS without an endpoint (from a laptop, another network, a
  # NAT) carry neither aws:SourceVpc nor aws:VpcSourceIp, so the comparison fails and they are
  # denied: hence the module's own endpoints, and instance_credentials_nat_cidrs for bastions
  # that reach AWS through a NAT (aws:SourceIp is then the NAT's address). Calls AWS services
  # make on the role's behalf (S3 asking KMS for a transcript's key) are exempt
  # (aws:ViaAWSService).
  dynamic "statement" {
    for_each = var.bind_instance_credentials_to_vpc ? {
      DenyOutsideTheInstancesVpc      = { key = "aws:Ec2InstanceSourceVpc", variable = "$${aws:SourceVpc}" }
      DenyFromAnyOtherAddressInTheVpc = { key = "aws:Ec2InstanceSourcePrivateIPv4", variable = "$${aws:VpcSourceIp}" }
    } : {}
    content {
      sid       = statement.key
      effect    = "Deny"
      actions   = ["*"]
      resources = ["*"]

      condition {
        test     = "StringNotEquals"
        variable = statement.value.key
        values   = [statement.value.variable]
      }

      condition {
        test     = "Null"
        variable = "ec2:SourceInstanceARN"
        values   = ["false"]
      }

      condition {
        test     = "BoolIfExists"
        variable = "aws:ViaAWSService"
        values   = ["false"]
      }

      dynamic "condition" {
        for_each = length(var.instance_credentials_nat_cidrs) > 0 ? [1] : []
        content {
          test     = "NotIpAddressIfExists"
          variable = "aws:SourceIp"
          values   = var.instance_credentials_nat_cidrs
        }
      }
    }
  }
}

resource "aws_iam_role_policy" "bastion_instance" {
  name   = "session-manager-only"
  role   = aws_iam_role.bastion.id
  policy = data.aws_iam_policy_document.bastion_instance.json
}

resource "aws_iam_instance_profile" "bastion" {
  name = "${local.name}-bastion"
  role = aws_iam_role.bastion.name
  tags = local.tags
}

###############################################################################
# For platform teams: keep everyone else's hands off the bastions' tags
###############################################################################

locals {
  # Everything of a bastion whose tags are state: the instance, its volume, its snapshots.
  bastion_taggable_arns = [
    "arn:${local.partition}:ec2:*:*:instance/*",
    "arn:${local.partition}:ec2:*:*:volume/*",
    "arn:${local.partition}:ec2:*:*:snapshot/*",
  ]
  module_function_role_arns = [aws_iam_role.orchestrator.arn, aws_iam_role.auto_terminate.arn]
}

data "aws_iam_policy_document" "tag_protection" {
  # Nobody strips a bastion's tags, whatever keys are named. A DeleteTags that names no keys
  # deletes them all, and then the request has no aws:TagKeys: a ForAnyValue condition on it
  # is false and such a Deny never applies. So no tag-key condition here at all (the module's
  # own roles never delete tags either).
  statement {
    sid       = "NobodyDeletesBastionTags"
    effect    = "Deny"
    actions   = ["ec2:DeleteTags"]
    resources = local.bastion_taggable_arns

    condition {
      test     = "StringEquals"
      variable = "ec2:ResourceTag/ManagedBy"
      values   = [local.managed_by]
    }
  }

  # Every tag of a bastion is state or evidence (owner, expiry, approval, break-glass, the
  # warning sent, the reason, the database forward, its name): only the module's roles write
  # any, whatever the key. No tag-key condition at all, as above: a list of protected keys
  # leaves out every key added after it was written.
  statement {
    sid       = "OnlyTheModuleRolesTagBastions"
    effect    = "Deny"
    actions   = ["ec2:CreateTags"]
    resources = local.bastion_taggable_arns

    condition {
      test     = "StringEquals"
      variable = "ec2:ResourceTag/ManagedBy"
      values   = [local.managed_by]
    }

    condition {
      test     = "ArnNotEquals"
      variable = "aws:PrincipalArn"
      values   = local.module_function_role_arns
    }
  }

  # Forging a bastion, its volume or its evidence: anything created or tagged
  # ManagedBy=bastion-orchestrator by anyone else.
  statement {
    sid       = "OnlyTheOrchestratorRolesCreateBastionsAndEvidence"
    effect    = "Deny"
    actions   = ["ec2:RunInstances", "ec2:CreateTags", "ec2:CreateSnapshot"]
    resources = local.bastion_taggable_arns

    condition {
      test     = "StringEquals"
      variable = "aws:RequestTag/ManagedBy"
      values   = [local.managed_by]
    }

    condition {
      test     = "ArnNotEquals"
      variable = "aws:PrincipalArn"
      values   = local.module_function_role_arns
    }
  }

  # The sweep terminates whatever carries the module's instance profile past its cap, tags or
  # not: nobody but the orchestrator may hand the bastion role to an instance.
  statement {
    sid       = "OnlyTheOrchestratorPassesTheBastionRole"
    effect    = "Deny"
    actions   = ["iam:PassRole"]
    resources = [aws_iam_role.bastion.arn]

    condition {
      test     = "ArnNotEquals"
      variable = "aws:PrincipalArn"
      values   = [aws_iam_role.orchestrator.arn]
    }
  }
}

###############################################################################
# For developers' roles and permission sets: who may connect to which bastion
###############################################################################

locals {
  ssm_document_arn_prefix = "arn:${local.partition}:ssm:${local.region}:${local.account_id}:document"

  # The module's logged documents, the only ones a session may be started with.
  # SSM-SessionManagerRunShell (a plain start-session) only when the module manages it.
  user_session_documents = concat(
    var.create_session_document ? [local.session_document_name] : [],
    var.manage_session_preferences ? ["SSM-SessionManagerRunShell"] : [],
    local.create_port_forward_document ? [local.port_forward_document] : [],
  )

  # Who owns a bastion, by how it was made. One statement each: the conditions of one
  # statement are ANDed, and a bastion carries one owner kind or the other.
  #   IAM door: RequestedByUserId is the caller's aws:userid (for a role, AROA...:<session>).
  #   Slack:    RequestedByEmail is the Slack user's email (users.info); the caller's email
  #             comes from a principal tag (IAM Identity Center attributes for access control).
  #             Case-insensitive: Slack and the identity provider may spell it differently.
  bastion_owner_matches = {
    IamDoor = { test = "StringEquals", tag = "RequestedByUserId", value = "$${aws:userid}" }
    Slack   = { test = "StringEqualsIgnoreCase", tag = "RequestedByEmail", value = "$${aws:PrincipalTag/email}" }
  }

  iam_door_alias_arn = "${local.orchestrator_arn}:${local.iam_door_alias}"
}

data "aws_iam_policy_document" "bastion_user" {
  # ssm:SessionDocumentAccessCheck makes StartSession name a document the caller may use (no
  # silent fallback to the unlogged default); AWS enforces it only when every statement that
  # allows ssm:StartSession carries it. The instance is authorised by these two statements,
  # the document by the next one: a document has no bastion tags, an instance is no document.
  dynamic "statement" {
    for_each = local.bastion_owner_matches
    content {
      sid       = "StartSessionOnOwnBastionsMadeThrough${statement.key}"
      actions   = ["ssm:StartSession"]
      resources = ["${local.ec2_arn_prefix}:instance/*"]

      dynamic "condition" {
        for_each = local.scope_tags
        content {
          test     = "StringEquals"
          variable = "ssm:resourceTag/${condition.key}"
          values   = [condition.value]
        }
      }

      condition {
        test     = statement.value.test
        variable = "ssm:resourceTag/${statement.value.tag}"
        values   = [statement.value.value]
      }

      condition {
        test     = "BoolIfExists"
        variable = "ssm:SessionDocumentAccessCheck"
        values   = ["true"]
      }
    }
  }

  # Only the module's documents: never AWS-StartSSHSession (an SSH tunnel the session log
  # cannot see) nor AWS-StartPortForwardingSessionToRemoteHost (any host, 169.254.169.254
  # included).
  dynamic "statement" {
    for_each = length(local.user_session_documents) > 0 ? [1] : []
    content {
      sid       = "StartSessionOnlyThroughTheModulesDocuments"
      actions   = ["ssm:StartSession"]
      resources = [for d in local.user_session_documents : "${local.ssm_document_arn_prefix}/${d}"]

      condition {
        test     = "BoolIfExists"
        variable = "ssm:SessionDocumentAccessCheck"
        values   = ["true"]
      }
    }
  }

  # Session Manager tags every session with aws:ssmmessages:session-id = the starter's
  # aws:userid (AIDA... for an IAM user, AROA...:<session name> for a role or an Identity
  # Center user). session/${aws:username}-* would miss roles and SSO users (no aws:username,
  # and their session ids start with the session name, not with aws:userid).
  statement {
    sid       = "EndOrResumeOnlyOwnSessions"
    actions   = ["ssm:TerminateSession", "ssm:ResumeSession"]
    resources = ["arn:${local.partition}:ssm:${local.region}:${local.account_id}:session/*"]

    condition {
      test     = "StringEquals"
      variable = "ssm:resourceTag/aws:ssmmessages:session-id"
      values   = ["$${aws:userid}"]
    }
  }

  # The session-manager-plugin itself calls kms:GenerateDataKey (not through SSM, so
  # kms:ViaService is absent) with the encryption context of the session and its target.
  statement {
    sid       = "SessionDataKeysForBastionSessionsOnly"
    actions   = ["kms:GenerateDataKey"]
    resources = [aws_kms_key.this.arn]

    condition {
      test     = "StringLike"
      variable = "kms:EncryptionContext:aws:ssm:SessionId"
      values   = ["*"]
    }

    condition {
      test     = "StringLike"
      variable = "kms:EncryptionContext:aws:ssm:TargetId"
      values   = ["i-*"]
    }
  }
}

# Calling the IAM door. Both actions, since AWS asks for lambda:InvokeFunction as well on
# function URLs created from October 2025; lambda:InvokedViaFunctionUrl keeps that one from
# becoming a direct invoke (the operators' door, which trusts the payload's user_id).
data "aws_iam_policy_document" "iam_door_invoke" {
  statement {
    sid       = "CallTheBastionIamDoor"
    actions   = ["lambda:InvokeFunctionUrl"]
    resources = [local.iam_door_alias_arn]

    condition {
      test     = "StringEquals"
      variable = "lambda:FunctionUrlAuthType"
      values   = ["AWS_IAM"]
    }
  }

  statement {
    sid       = "InvokeOnlyThroughTheIamDoorUrl"
    actions   = ["lambda:InvokeFunction"]
    resources = [local.iam_door_alias_arn]

    condition {
      test     = "Bool"
      variable = "lambda:InvokedViaFunctionUrl"
      values   = ["true"]
    }
  }
}

