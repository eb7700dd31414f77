data "aws_partition" "current" {}
data "aws_region" "current" {}
data "aws_caller_identity" "current" {}

# The bastion image when ami_id is null: the Amazon Linux 2023 arm64 release that AWS's public
# parameter names when Terraform plans. It is pinned twice, in AMI_ID and in the orchestrator's
# RunInstances statement, because IAM cannot say "the AL2023 arm64 family": the image resource
# of RunInstances offers only ec2:ImageID, ec2:Owner, ec2:ImageType, ec2:Public,
# ec2:RootDeviceType and resource tags, and ec2:Owner = amazon admits every image Amazon
# publishes (Windows, AL2, GPU and marketplace-adjacent images alike). Leaving AMI_ID unset and
# letting the code read the parameter at launch would break every launch the day AWS publishes
# a new release, until the next apply. Trade-off: bastions run the release of the last apply;
# a plan shows AMI_ID changing when AWS moves the parameter (apply regularly, e.g. from CI).
data "aws_ssm_parameter" "al2023_arm64" {
  count = var.ami_id == null ? 1 : 0

  name = "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-arm64"
}

locals {
  name       = "${var.project_name}-${var.environment}"
  partition  = data.aws_partition.current.partition
  region     = data.aws_region.current.name
  account_id = data.aws_caller_identity.current.account_id
  dns_suffix = data.aws_partition.current.dns_suffix

  # The value of the ManagedBy tag the code puts on every bastion; the IAM conditions key on it.
  managed_by = "bastion-orchestrator"

  orchestrator_function_name   = "${local.name}-orchestrator"
  iam_door_alias               = "iam"
  auto_terminate_function_name = "${local.name}-auto-terminate"
  # The public Slack Function URL runs on a function of its own: reserved concurrency is per
  # function, so a flood of Slack requests can exhaust only this pool, never the IAM door's,
  # direct invokes' (the orchestrator) or the auto-terminator's.
  slack_function_name = "${local.name}-slack"

  # Computed rather than read from the resources: the auto-terminator's own environment
  # carries its ARN, and the orchestrator's policy lets it invoke itself (no cycles).
  lambda_arn_prefix        = "arn:${local.partition}:lambda:${local.region}:${local.account_id}:function"
  orchestrator_arn         = "${local.lambda_arn_prefix}:${local.orchestrator_function_name}"
  auto_terminate_arn       = "${local.lambda_arn_prefix}:${local.auto_terminate_function_name}"
  slack_function_arn       = "${local.lambda_arn_prefix}:${local.slack_function_name}"
  slack_log_group          = "/aws/lambda/${local.slack_function_name}"
  schedule_group_name      = local.name
  sweep_schedule_name      = "${local.name}-sweep"
  session_document_name    = "${local.name}-bastion-session"
  port_forward_document    = "${local.name}-bastion-port-forward"
  orchestrator_log_group   = "/aws/lambda/${local.orchestrator_function_name}"
  auto_terminate_log_group = "/aws/lambda/${local.auto_terminate_function_name}"
  session_log_group        = "/aws/ssm/${local.name}-bastion-sessions"

  # The one image the orchestrator may launch (see data.aws_ssm_parameter.al2023_arm64).
  ami_id = var.ami_id != null ? var.ami_id : data.aws_ssm_parameter.al2023_arm64[0].insecure_value

  tags = merge(var.tags, {
    Project     = var.project_name
    Environment = var.environment
    Component   = "bastion-orchestrator"
  })

  # The contract's configuration, identical for both functions (they share one settings
  # model). Optional values are left out rather than set to "" so the code's defaults apply.
  contract_environment = merge(
    {
      PROJECT_NAME                 = var.project_name
      ENVIRONMENT                  = var.environment
      IAM_INSTANCE_PROFILE         = aws_iam_instance_profile.bastion.name
      AUTO_TERMINATE_LAMBDA_ARN    = local.auto_terminate_arn
      SCHEDULER_ROLE_ARN           = aws_iam_role.scheduler.arn
      WARNING_LAMBDA_ARN           = local.auto_terminate_arn
      SCHEDULE_GROUP               = aws_scheduler_schedule_group.this.name
      INSTANCE_TYPE                = var.instance_type
      SUBNET_ID                    = var.subnet_ids[0]
      SUBNET_IDS                   = join(",", var.subnet_ids)
      BASTION_SECURITY_GROUP_ID    = aws_security_group.bastion.id
      RDS_PORT                     = tostring(var.rds_port)
      BASTION_LIFETIME_HOURS       = tostring(var.bastion_lifetime_hours)
      EXTEND_HOURS                 = tostring(var.extend_hours)
      MAX_LIFETIME_HOURS           = tostring(var.max_lifetime_hours)
      WARNING_MINUTES              = tostring(var.warning_minutes)
      MAX_BASTIONS_PER_USER        = tostring(var.max_bastions_per_user)
      POWERTOOLS_METRICS_NAMESPACE = var.powertools_metrics_namespace
      AMI_ID                       = local.ami_id
      BOOT_PROFILES                = join(",", var.boot_profiles)
      SNAPSHOT_ON_TERMINATE        = tostring(var.snapshot_on_terminate)
      SESSION_SUDO                 = tostring(var.session_sudo)
      SNAPSHOT_RETENTION_DAYS      = tostring(var.snapshot_retention_days)
    },
    # The operator's script travels base64-encoded: the code decodes it into a file, never
    # into the user data's own text.
    var.boot_script == null ? {} : { BOOT_SCRIPT = base64encode(var.boot_script) },
    var.rds_endpoint == null ? {} : { RDS_ENDPOINT = var.rds_endpoint },
    length(var.admin_user_ids) == 0 ? {} : { ADMIN_USER_IDS = join(",", var.admin_user_ids) },
    length(var.allowed_user_ids) == 0 ? {} : { ALLOWED_USER_IDS = join(",", var.allowed_user_ids) },
    var.idle_minutes == null ? {} : { IDLE_MINUTES = tostring(var.idle_minutes) },
    var.create_idempotency_table ? { IDEMPOTENCY_TABLE = aws_dynamodb_table.idempotency[0].name } : {},
    var.slack_secret_arn == null ? {} : { SLACK_SECRET_ARN = var.slack_secret_arn },
    var.slack_channel == null ? {} : { SLACK_CHANNEL = var.slack_channel },
    length(var.admin_principal_arns) == 0 ? {} : { ADMIN_PRINCIPAL_ARNS = join(",", var.admin_principal_arns) },
    var.approval_required ? {
      APPROVAL_REQUIRED        = "true"
      APPROVER_USER_IDS        = join(",", var.approver_user_ids)
      APPROVAL_CHANNEL         = var.approval_channel
      APPROVAL_TIMEOUT_MINUTES = tostring(var.approval_timeout_minutes)
      APPROVER_IAM_PRINCIPALS  = jsonencode(var.approver_iam_principals)
    } : {},
    { BREAK_GLASS_HOURS = tostring(var.break_glass_hours) },
    # The logged documents named in connection_instructions (and the only ones
    # bastion_user_policy_json allows); unset, the code names the AWS defaults.
    var.create_session_document ? { SESSION_DOCUMENT = local.session_document_name } : {},
    local.create_port_forward_document ? { PORT_FORWARD_DOCUMENT = local.port_forward_document } : {},
  )
}

###############################################################################
# Encryption: one customer managed key for logs, queues, the table and schedules
###############################################################################

data "aws_iam_policy_document" "kms" {
  # Key policies always name the key itself as "*".
  #checkov:skip=CKV_AWS_109:Key policy: "*" is the key itself; administration stays with the account's IAM policies (root statement).
  #checkov:skip=CKV_AWS_111:Key policy: "*" is the key itself; write access is governed by the account's IAM policies.
  #checkov:skip=CKV_AWS_356:Key policy: the resource of a key policy statement is always "*" (this key).
  statement {
    sid       = "AccountAdministersTheKeyThroughIam"
    actions   = ["kms:*"]
    resources = ["*"]

    principals {
      type        = "AWS"
      identifiers = ["arn:${local.partition}:iam::${local.account_id}:root"]
    }
  }

  statement {
    sid = "CloudWatchLogsEncryptsTheModulesLogGroups"
    actions = [
      "kms:Encrypt*",
      "kms:Decrypt*",
      "kms:ReEncrypt*",
      "kms:GenerateDataKey*",
      "kms:Describe*",
    ]
    resources = ["*"]

    principals {
      type        = "Service"
      identifiers = ["logs.${local.region}.${local.dns_suffix}"]
    }

    condition {
      test     = "ArnLike"
      variable = "kms:EncryptionContext:aws:logs:arn"
      values = [
        "arn:${local.partition}:logs:${local.region}:${local.account_id}:log-group:${local.orchestrator_log_group}",
        "arn:${local.partition}:logs:${local.region}:${local.account_id}:log-group:${local.auto_terminate_log_group}",
        "arn:${local.partition}:logs:${local.region}:${local.account_id}:log-group:${local.slack_log_group}",
        "arn:${local.partition}:logs:${local.region}:${local.account_id}:log-group:${local.session_log_group}",
      ]
    }
  }
}

resource "aws_kms_key" "this" {
  description             = "${local.name} bastion orchestrator: logs, queues, idempotency table, sessions"
  enable_key_rotation     = true
  deletion_window_in_days = var.kms_key_deletion_window_days
  policy                  = data.aws_iam_policy_document.kms.json
  tags                    = local.tags
}

resource "aws_kms_alias" "this" {
  name          = "alias/${local.name}-bastion-orchestrator"
  target_key_id = aws_kms_key.this.key_id
}

###############################################################################
# Log groups (created before the functions so Lambda never creates one without retention)
###############################################################################

resource "aws_cloudwatch_log_group" "function" {
  for_each = local.functions

  name              = each.value.log_group
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.this.arn
  tags              = local.tags
}

###############################################################################
# Dead-letter queue for failed asynchronous invocations of both functions
###############################################################################

resource "aws_sqs_queue" "lambda_dlq" {
  name                              = "${local.name}-lambda-dlq"
  message_retention_seconds         = 1209600
  kms_master_key_id                 = aws_kms_key.this.arn
  kms_data_key_reuse_period_seconds = 3600
  tags                              = local.tags
}

###############################################################################
# Idempotency table
###############################################################################

resource "aws_dynamodb_table" "idempotency" {
  count = var.create_idempotency_table ? 1 : 0

  name                        = "${local.name}-idempotency"
  billing_mode                = "PAY_PER_REQUEST"
  hash_key                    = "id"
  deletion_protection_enabled = var.idempotency_table_deletion_protection

  attribute {
    name = "id"
    type = "S"
  }

  ttl {
    attribute_name = "expiration"
    enabled        = true
  }

  point_in_time_recovery {
    enabled = true
  }

  server_side_encryption {
    enabled     = true
    kms_key_arn = aws_kms_key.this.arn
  }

  tags = local.tags
}

###############################################################################
# Functions
###############################################################################

# The Slack door's pins (slack_app_id, slack_team_id): the functions that serve Slack answer
# only that app and workspace. Unset, any app or workspace signing with the secret.
locals {
  slack_pins = merge(
    var.slack_app_id == null ? {} : { SLACK_APP_ID = var.slack_app_id },
    var.slack_team_id == null ? {} : { SLACK_TEAM_ID = var.slack_team_id },
  )
}

# The functions: one package, one configuration (local.contract_environment); what differs
# between them is here. Each also gets its own log group and retry settings from this map.
locals {
  functions = merge(
    {
      orchestrator = {
        name                 = local.orchestrator_function_name
        description          = "${local.name}: creates, extends, lists and destroys SSM-only bastions"
        role_arn             = aws_iam_role.orchestrator.arn
        handler              = "handler.lambda_handler"
        memory_size          = var.orchestrator_memory_size
        timeout              = var.orchestrator_timeout
        reserved_concurrency = var.orchestrator_reserved_concurrency
        service_name         = "bastion-orchestrator"
        slack_pins           = true
        log_group            = local.orchestrator_log_group
        # Its asynchronous events are its own signed Slack continuations: the code refuses
        # one older than 15 minutes as stale, so Lambda need not keep retrying it for longer.
        max_event_age_seconds = 900
      }
    },
    # The Slack door: the same package, handler, role and configuration as the orchestrator,
    # on a function of its own so that its reserved concurrency is a pool of its own (see
    # local.slack_function_name). Its slow verbs continue in asynchronous invocations of itself.
    var.create_function_url ? {
      slack = {
        name                  = local.slack_function_name
        description           = "${local.name}: the Slack door of the bastion orchestrator (its own concurrency)"
        role_arn              = aws_iam_role.orchestrator.arn
        handler               = "handler.lambda_handler"
        memory_size           = var.orchestrator_memory_size
        timeout               = var.orchestrator_timeout
        reserved_concurrency  = var.slack_reserved_concurrency
        service_name          = "bastion-orchestrator-slack"
        slack_pins            = true
        log_group             = local.slack_log_group
        max_event_age_seconds = 900 # the orchestrator's continuations, as above
      }
    } : {},
    {
      auto_terminate = {
        name                  = local.auto_terminate_function_name
        description           = "${local.name}: warns about and terminates expired bastions (schedules and sweep)"
        role_arn              = aws_iam_role.auto_terminate.arn
        handler               = "auto_terminate.lambda_handler"
        memory_size           = var.auto_terminate_memory_size
        timeout               = var.auto_terminate_timeout
        reserved_concurrency  = var.auto_terminate_reserved_concurrency
        service_name          = "bastion-auto-terminate"
        slack_pins            = false
        log_group             = local.auto_terminate_log_group
        max_event_age_seconds = 3600
      }
    },
  )
}

resource "aws_lambda_function" "this" {
  #checkov:skip=CKV_AWS_117:Not in a VPC on purpose: the functions answer Slack and call AWS APIs only; bastions are reached through SSM, never from a function.
  #checkov:skip=CKV_AWS_272:Code signing needs an AWS Signer profile that the caller owns; the zip is built reproducibly (scripts/package.py) and its hash pinned by source_code_hash.
  for_each = local.functions

  function_name                  = each.value.name
  description                    = each.value.description
  role                           = each.value.role_arn
  handler                        = each.value.handler
  runtime                        = var.lambda_runtime
  architectures                  = ["arm64"]
  filename                       = var.package_path
  source_code_hash               = filebase64sha256(var.package_path)
  memory_size                    = each.value.memory_size
  timeout                        = each.value.timeout
  reserved_concurrent_executions = each.value.reserved_concurrency
  kms_key_arn                    = aws_kms_key.this.arn

  environment {
    variables = merge(
      local.contract_environment,
      { POWERTOOLS_SERVICE_NAME = each.value.service_name },
      each.value.slack_pins ? local.slack_pins : {},
    )
  }

  tracing_config {
    mode = "Active"
  }

  dead_letter_config {
    target_arn = aws_sqs_queue.lambda_dlq.arn
  }

  logging_config {
    log_format = "Text"
    log_group  = aws_cloudwatch_log_group.function[each.key].name
  }

  tags = local.tags

  # The module's cross-variable checks; a plan that fails one says so once per function.
  lifecycle {
    precondition {
      condition     = length(local.name) <= 30
      error_message = "project_name-environment must be at most 30 characters so schedule names fit 64."
    }
    precondition {
      condition     = var.max_lifetime_hours >= var.bastion_lifetime_hours
      error_message = "max_lifetime_hours must be at least bastion_lifetime_hours."
    }
    precondition {
      condition     = var.warning_minutes < var.bastion_lifetime_hours * 60
      error_message = "warning_minutes must be shorter than bastion_lifetime_hours."
    }
    precondition {
      condition     = var.create_vpc_endpoints || length(var.https_egress_cidr_blocks) + length(var.https_egress_prefix_list_ids) > 0
      error_message = "Without create_vpc_endpoints the bastions need https_egress_cidr_blocks or https_egress_prefix_list_ids to reach SSM."
    }
  }

  # Every function waits for both roles' policies (depends_on is per resource, not per
  # instance), so none starts without its permissions.
  depends_on = [
    aws_cloudwatch_log_group.function,
    aws_iam_role_policy.orchestrator,
    aws_iam_role_policy.auto_terminate,
  ]
}

# Retries of asynchronous invocations (scheduler events, the functions' self-invocations);
# what still fails lands in the dead-letter queue above. How long an event may wait:
# local.functions.
resource "aws_lambda_function_event_invoke_config" "function" {
  for_each = local.functions

  function_name                = aws_lambda_function.this[each.key].function_name
  maximum_retry_attempts       = var.async_max_retry_attempts
  maximum_event_age_in_seconds = each.value.max_event_age_seconds
}

# The same for invocations through the IAM door's alias: an event invoke config is per
# qualifier, and a continuation started there targets `<function>:iam`.
resource "aws_lambda_function_event_invoke_config" "orchestrator_iam_door" {
  count = var.create_iam_door ? 1 : 0

  function_name                = aws_lambda_function.this["orchestrator"].function_name
  qualifier                    = aws_lambda_alias.iam_door[0].name
  maximum_retry_attempts       = var.async_max_retry_attempts
  maximum_event_age_in_seconds = 900
}

###############################################################################
# Slack door
###############################################################################

# Slack cannot sign requests with SigV4, so the URL is public (authorization NONE); the Slack
# v0 signature check on the raw body, made in the code before anything else, is the gate. It
# is the Slack function's, not the orchestrator's: whatever arrives here runs in that pool.
resource "aws_lambda_function_url" "slack" {
  count = var.create_function_url ? 1 : 0

  function_name      = aws_lambda_function.this["slack"].function_name
  authorization_type = "NONE" #checkov:skip=CKV_AWS_258:Slack cannot sign with SigV4; the Slack v0 HMAC signature is verified in code before anything else.
  invoke_mode        = "BUFFERED"
}

resource "aws_lambda_permission" "slack_function_url" {
  #checkov:skip=CKV_AWS_301:Public by design: the Function URL is Slack's entry point, gated by the Slack v0 request signature in code; the permission is limited to InvokeFunctionUrl with auth type NONE.
  count = var.create_function_url ? 1 : 0

  statement_id           = "AllowSlackThroughFunctionUrl"
  action                 = "lambda:InvokeFunctionUrl"
  function_name          = aws_lambda_function.this["slack"].function_name
  principal              = "*"
  function_url_auth_type = "NONE"
}

###############################################################################
# IAM door: SigV4-signed requests from developers' terminals (the bastion CLI)
###############################################################################

# The IAM door is an alias on $LATEST of the orchestrator (its own qualifier, so its event
# invoke config and permission name it), so it always runs the code and configuration of the
# last apply (no published versions pile up). The Slack URL is on another function.
resource "aws_lambda_alias" "iam_door" {
  count = var.create_iam_door ? 1 : 0

  name             = local.iam_door_alias
  description      = "IAM door of ${local.orchestrator_function_name}: its Function URL takes SigV4-signed requests only"
  function_name    = aws_lambda_function.this["orchestrator"].function_name
  function_version = "$LATEST"
}

# AWS_IAM: Lambda authenticates the SigV4 signature and authorises the caller's
# lambda:InvokeFunctionUrl before the code runs; the code reads the caller from
# requestContext.authorizer.iam.
resource "aws_lambda_function_url" "iam_door" {
  count = var.create_iam_door ? 1 : 0

  function_name      = aws_lambda_function.this["orchestrator"].function_name
  qualifier          = aws_lambda_alias.iam_door[0].name
  authorization_type = "AWS_IAM"
  invoke_mode        = "BUFFERED"
}

# For IAM-authenticated callers of this account only (never "*", never auth NONE): grants
# nothing by itself, a caller also needs iam_door_invoke_policy_json in their own policies.
resource "aws_lambda_permission" "iam_door" {
  count = var.create_iam_door ? 1 : 0

  statement_id           = "AllowIamDoorForThisAccountsSignedCallers"
  action                 = "lambda:InvokeFunctionUrl"
  function_name          = aws_lambda_function.this["orchestrator"].function_name
  qualifier              = aws_lambda_alias.iam_door[0].name
  principal              = local.account_id
  function_url_auth_type = "AWS_IAM"
}

