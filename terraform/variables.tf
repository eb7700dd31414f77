###############################################################################
# Naming and placement
###############################################################################

variable "project_name" {
  type        = string
  description = "Project name: prefixes every resource name, scopes the bastions (Project tag) and the IAM conditions. Lowercase letters, digits and hyphens. `<project_name>-<environment>` is at most 30 characters so that schedule names (`<project>-<env>-<instance_id>-termination`) fit EventBridge Scheduler's 64."
  nullable    = false

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9-]*$", var.project_name)) && length(var.project_name) <= 28
    error_message = "project_name must match ^[a-z0-9][a-z0-9-]*$ and be at most 28 characters (project_name-environment at most 30)."
  }
}

variable "environment" {
  type        = string
  description = "Environment name (dev, staging, prod, ...): second part of every resource name and the Environment tag scope of the bastions."
  nullable    = false

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9-]*$", var.environment)) && length(var.environment) <= 28
    error_message = "environment must match ^[a-z0-9][a-z0-9-]*$ and be at most 28 characters (project_name-environment at most 30)."
  }
}

variable "vpc_id" {
  type        = string
  description = "VPC the bastions (and the optional SSM interface endpoints) live in."
  nullable    = false

  validation {
    condition     = can(regex("^vpc-[0-9a-f]{8}([0-9a-f]{9})?$", var.vpc_id))
    error_message = "vpc_id must look like vpc-0123456789abcdef0."
  }
}

variable "subnet_ids" {
  type        = list(string)
  description = "Private subnets for bastions, tried in order when one has no capacity (SUBNET_IDS; the first is SUBNET_ID). The orchestrator may launch only into these subnets."
  nullable    = false

  validation {
    condition     = length(var.subnet_ids) >= 1 && alltrue([for s in var.subnet_ids : can(regex("^subnet-[0-9a-f]{8}([0-9a-f]{9})?$", s))])
    error_message = "subnet_ids must hold at least one id like subnet-0123456789abcdef0."
  }
}

variable "tags" {
  type        = map(string)
  description = "Tags added to every resource the module creates (not to the bastions, whose tags are the contract's)."
  default     = {}
  nullable    = false
}

###############################################################################
# Lambda
###############################################################################

variable "package_path" {
  type        = string
  description = "Path to the deployment zip built by `make package` (dist/bastion-orchestrator.zip). Both functions use it."
  nullable    = false

  validation {
    condition     = endswith(var.package_path, ".zip")
    error_message = "package_path must point at a .zip file."
  }
}

variable "lambda_runtime" {
  type        = string
  description = "Python runtime of both functions (arm64). python3.12 or newer."
  default     = "python3.12"
  nullable    = false

  validation {
    condition     = can(regex("^python3\\.(1[2-9]|[2-9][0-9])$", var.lambda_runtime))
    error_message = "lambda_runtime must be python3.12 or newer."
  }
}

variable "orchestrator_memory_size" {
  type        = number
  description = "Memory (MB) of the orchestrator and Slack functions. Lambda gives CPU in proportion to memory (1769 MB = 1 vCPU), and a cold start is CPU-bound. Measured under that share (make bench, whole process, median of 5): a cold Slack create ack takes 0.54 s at 1769 MB, 0.92 s at 1024 MB and 4.0 s at 256 MB; a cold Slack status 1.05 s, 1.78 s and 7.3 s. Slack gives up at 3 s. Single-threaded Python gains nothing above 1769 MB; below it a CPU-bound request costs about the same GB-seconds at any size, so this costs a team of 20 cents a month (module README, Cost)."
  default     = 1769
  nullable    = false

  validation {
    condition     = var.orchestrator_memory_size >= 128 && var.orchestrator_memory_size <= 10240
    error_message = "orchestrator_memory_size must be between 128 and 10240."
  }
}

variable "orchestrator_timeout" {
  type        = number
  description = "Timeout (seconds) of the orchestrator and Slack functions. No invocation waits for a bastion (readiness is checked by short scheduled events), so the longest is a create that retries throttled calls: at most 4 attempts of 3 s connect + 8 s read per call, inside 60 s; the bastion CLI waits 75 s."
  default     = 60
  nullable    = false

  validation {
    condition     = var.orchestrator_timeout >= 10 && var.orchestrator_timeout <= 900
    error_message = "orchestrator_timeout must be between 10 and 900."
  }
}

variable "orchestrator_reserved_concurrency" {
  type        = number
  description = "Reserved concurrency of the orchestrator: the IAM door (the bastion CLI) and direct invokes. The public Slack Function URL runs on its own function (slack_reserved_concurrency), so no Slack flood reaches this pool. null leaves it unreserved (needed in accounts whose concurrency quota is still the initial 10)."
  default     = 10
  nullable    = true

  validation {
    condition     = var.orchestrator_reserved_concurrency == null || try(var.orchestrator_reserved_concurrency >= 1, false)
    error_message = "orchestrator_reserved_concurrency must be null or at least 1 (the Slack door and its self-invocations run on the Slack function)."
  }
}

variable "slack_reserved_concurrency" {
  type        = number
  description = "Reserved concurrency of the Slack function, which serves the public Slack Function URL (auth NONE) and its asynchronous continuations: caps what a flood on that URL can cost, and is a pool of its own, so it never starves the IAM door, direct invokes or the auto-terminator. A Slack create holds one acknowledgement and one continuation of about a second each. null leaves it unreserved."
  default     = 10
  nullable    = true

  validation {
    condition     = var.slack_reserved_concurrency == null || try(var.slack_reserved_concurrency >= 2, false)
    error_message = "slack_reserved_concurrency must be null or at least 2 (a Slack request and its asynchronous self-invocation run at once)."
  }
}

variable "auto_terminate_memory_size" {
  type        = number
  description = "Memory (MB) of the auto-terminator function. No person waits on its work (warnings, terminations, readiness checks, the sweep), but the sweep must finish inside the timeout: measured under Lambda's CPU share at the default INFO log level, a 10,000-bastion sweep takes 32 s at 512 MB (9x inside the 300 s timeout) and 91 s at 256 MB (3.3x) (make bench)."
  default     = 512
  nullable    = false

  validation {
    condition     = var.auto_terminate_memory_size >= 128 && var.auto_terminate_memory_size <= 10240
    error_message = "auto_terminate_memory_size must be between 128 and 10240."
  }
}

variable "auto_terminate_timeout" {
  type        = number
  description = "Timeout (seconds) of the auto-terminator function: the sweep walks every bastion of the deployment (10,000 in 32 s at the default memory, measured under its CPU share), and a terminate, warning or readiness check takes a few seconds."
  default     = 300
  nullable    = false

  validation {
    condition     = var.auto_terminate_timeout >= 10 && var.auto_terminate_timeout <= 900
    error_message = "auto_terminate_timeout must be between 10 and 900."
  }
}

variable "auto_terminate_reserved_concurrency" {
  type        = number
  description = "Reserved concurrency of the auto-terminator. Keeps terminations running when the account is saturated. null leaves it unreserved."
  default     = 5
  nullable    = true

  validation {
    condition     = var.auto_terminate_reserved_concurrency == null || try(var.auto_terminate_reserved_concurrency >= 1, false)
    error_message = "auto_terminate_reserved_concurrency must be null or at least 1."
  }
}

variable "async_max_retry_attempts" {
  type        = number
  description = "Lambda retries of a failed asynchronous invocation (scheduler events, self-invocations) before it goes to the dead-letter queue."
  default     = 2
  nullable    = false

  validation {
    condition     = var.async_max_retry_attempts >= 0 && var.async_max_retry_attempts <= 2
    error_message = "async_max_retry_attempts must be 0, 1 or 2."
  }
}

variable "log_retention_days" {
  type        = number
  description = "Retention of the functions' and the sessions' CloudWatch log groups: at least 90 days (0: never expire)."
  default     = 365
  nullable    = false

  validation {
    condition     = contains([0, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "log_retention_days must be at least 90: the seeds promise HIPAA-minded customers 90 days of function and session logs. Use one of CloudWatch Logs' values from 90 up (90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653), or 0 to never expire."
  }
}

variable "kms_key_deletion_window_days" {
  type        = number
  description = "Waiting period before the module's KMS key is deleted after destroy."
  default     = 30
  nullable    = false

  validation {
    condition     = var.kms_key_deletion_window_days >= 7 && var.kms_key_deletion_window_days <= 30
    error_message = "kms_key_deletion_window_days must be between 7 and 30."
  }
}

variable "powertools_metrics_namespace" {
  type        = string
  description = "CloudWatch metrics namespace of both functions (POWERTOOLS_METRICS_NAMESPACE)."
  default     = "BastionOrchestrator"
  nullable    = false

  validation {
    condition     = can(regex("^[A-Za-z0-9._/#:-]{1,255}$", var.powertools_metrics_namespace))
    error_message = "powertools_metrics_namespace must be 1-255 of letters, digits and ._/#:-."
  }
}

###############################################################################
# Bastion rules (the contract's configuration)
###############################################################################

variable "instance_type" {
  type        = string
  description = "Bastion instance type (INSTANCE_TYPE). Graviton burstable only: the AMI is arm64. The IAM policy allows RunInstances of exactly this type."
  default     = "t4g.nano"
  nullable    = false

  validation {
    condition     = can(regex("^t4g\\.(nano|micro|small|medium|large|xlarge|2xlarge)$", var.instance_type))
    error_message = "instance_type must be a t4g.* type (arm64)."
  }
}

variable "ami_id" {
  type        = string
  description = "Bastion image (AMI_ID); RunInstances is allowed with exactly this image. null: the Amazon Linux 2023 arm64 image that the public SSM parameter /aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-arm64 names when Terraform plans, pinned in AMI_ID and in IAM (re-apply to move to a newer release)."
  default     = null
  nullable    = true

  validation {
    condition     = var.ami_id == null || can(regex("^ami-[0-9a-f]{8}([0-9a-f]{9})?$", var.ami_id))
    error_message = "ami_id must be null or look like ami-0123456789abcdef0."
  }
}

variable "ebs_kms_key_arn" {
  type        = string
  description = "Customer managed KMS key the account encrypts EBS volumes with by default (EC2 default encryption key), if any: the orchestrator gets kms:CreateGrant (for AWS resources only), GenerateDataKeyWithoutPlaintext, Decrypt, DescribeKey and ReEncrypt* on it through EC2, so the bastion's encrypted root volume can be created. A key ARN, not an alias. null: volumes use aws/ebs."
  default     = null
  nullable    = true

  validation {
    condition     = var.ebs_kms_key_arn == null || can(regex("^arn:[a-z-]+:kms:[a-z0-9-]+:[0-9]{12}:key/[A-Za-z0-9-]+$", var.ebs_kms_key_arn))
    error_message = "ebs_kms_key_arn must be null or a KMS key ARN (arn:<partition>:kms:<region>:<account>:key/<key id>), not an alias."
  }
}

variable "bastion_lifetime_hours" {
  type        = number
  description = "Hours a new bastion lives (BASTION_LIFETIME_HOURS)."
  default     = 3
  nullable    = false

  validation {
    condition     = var.bastion_lifetime_hours >= 1 && var.bastion_lifetime_hours <= 24 && floor(var.bastion_lifetime_hours) == var.bastion_lifetime_hours
    error_message = "bastion_lifetime_hours must be a whole number between 1 and 24."
  }
}

variable "extend_hours" {
  type        = number
  description = "Hours one extend adds (EXTEND_HOURS)."
  default     = 2
  nullable    = false

  validation {
    condition     = var.extend_hours >= 1 && var.extend_hours <= 12 && floor(var.extend_hours) == var.extend_hours
    error_message = "extend_hours must be a whole number between 1 and 12."
  }
}

variable "max_lifetime_hours" {
  type        = number
  description = "Hard cap on a bastion's life after creation, extends included (MAX_LIFETIME_HOURS). At least bastion_lifetime_hours."
  default     = 12
  nullable    = false

  validation {
    condition     = var.max_lifetime_hours >= 1 && var.max_lifetime_hours <= 72 && floor(var.max_lifetime_hours) == var.max_lifetime_hours
    error_message = "max_lifetime_hours must be a whole number between 1 and 72 (and at least bastion_lifetime_hours)."
  }
}

variable "warning_minutes" {
  type        = number
  description = "Minutes before expiry the requester is warned with an Extend offer (WARNING_MINUTES)."
  default     = 30
  nullable    = false

  validation {
    condition     = var.warning_minutes >= 5 && var.warning_minutes <= 120 && floor(var.warning_minutes) == var.warning_minutes
    error_message = "warning_minutes must be a whole number between 5 and 120."
  }
}

variable "max_bastions_per_user" {
  type        = number
  description = "Active bastions one user may have in this deployment (MAX_BASTIONS_PER_USER)."
  default     = 1
  nullable    = false

  validation {
    condition     = var.max_bastions_per_user >= 1 && var.max_bastions_per_user <= 10 && floor(var.max_bastions_per_user) == var.max_bastions_per_user
    error_message = "max_bastions_per_user must be a whole number between 1 and 10."
  }
}

variable "idle_minutes" {
  type        = number
  description = "When set, the sweep terminates bastions that have had no SSM session for this long (IDLE_MINUTES). null: off."
  default     = null
  nullable    = true

  validation {
    condition     = var.idle_minutes == null || try(var.idle_minutes >= 15 && var.idle_minutes <= 1440 && floor(var.idle_minutes) == var.idle_minutes, false)
    error_message = "idle_minutes must be null or a whole number between 15 and 1440."
  }
}

variable "admin_user_ids" {
  type        = list(string)
  description = "Slack user ids allowed to act on any bastion (ADMIN_USER_IDS)."
  default     = []
  nullable    = false

  validation {
    condition     = alltrue([for u in var.admin_user_ids : can(regex("^[A-Za-z0-9_.@-]{1,64}$", u))])
    error_message = "admin_user_ids must hold user ids of 1-64 letters, digits and _.@-."
  }
}

variable "allowed_user_ids" {
  type        = list(string)
  description = "Slack user ids allowed to create bastions from Slack (ALLOWED_USER_IDS). Empty: everyone in the workspace."
  default     = []
  nullable    = false

  validation {
    condition     = alltrue([for u in var.allowed_user_ids : can(regex("^[A-Za-z0-9_.@-]{1,64}$", u))])
    error_message = "allowed_user_ids must hold user ids of 1-64 letters, digits and _.@-."
  }
}

variable "admin_principal_arns" {
  type        = list(string)
  description = "IAM user or role ARNs that are admins on the IAM door (ADMIN_PRINCIPAL_ARNS): they may act on any bastion of this deployment and name another user_id. A role ARN covers every session of that role. No wildcards, no commas."
  default     = []
  nullable    = false

  validation {
    condition     = alltrue([for a in var.admin_principal_arns : can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:(user|role)/[A-Za-z0-9+=.@_/-]{1,512}$", a))])
    error_message = "admin_principal_arns must hold IAM user or role ARNs (arn:<partition>:iam::<account>:user/<name> or :role/<path/><name>), without wildcards or commas."
  }
}

###############################################################################
# Database the bastions forward to
###############################################################################

variable "rds_security_group_id" {
  type        = string
  description = "Security group of the database. The module adds an ingress rule on it from the bastion security group on rds_port, and the matching egress on the bastion security group."
  nullable    = false

  validation {
    condition     = can(regex("^sg-[0-9a-f]{8}([0-9a-f]{9})?$", var.rds_security_group_id))
    error_message = "rds_security_group_id must look like sg-0123456789abcdef0."
  }
}

variable "rds_endpoint" {
  type        = string
  description = "Database host name offered in the port-forward instructions (RDS_ENDPOINT), and the only host the module's port-forward document `<project>-<env>-bastion-port-forward` may forward to (with rds_port). null: none, and no port-forward document."
  default     = null
  nullable    = true

  validation {
    condition     = var.rds_endpoint == null || can(regex("^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$", var.rds_endpoint)) && length(coalesce(var.rds_endpoint, "x")) <= 253
    error_message = "rds_endpoint must be null or a DNS name of at most 253 characters."
  }
}

variable "rds_port" {
  type        = number
  description = "Database port (RDS_PORT): the bastion's only egress besides HTTPS to SSM."
  default     = 5432
  nullable    = false

  validation {
    condition     = var.rds_port >= 1 && var.rds_port <= 65535 && floor(var.rds_port) == var.rds_port
    error_message = "rds_port must be between 1 and 65535."
  }
}

###############################################################################
# Network
###############################################################################

variable "create_vpc_endpoints" {
  type        = bool
  description = "Create the interface endpoints the bastions need (ssm and ssmmessages; logs when shell sessions are logged; kms when a module session document encrypts sessions; s3 with session_logs_to_s3), with their own security group and endpoint policies that serve only this deployment's bastions, so bastions reach AWS without a NAT. Turn off when the VPC already has them; then allow HTTPS egress with https_egress_cidr_blocks / https_egress_prefix_list_ids."
  default     = true
  nullable    = false
}

variable "vpc_endpoint_subnet_ids" {
  type        = list(string)
  description = "Subnets of the interface endpoints (one per Availability Zone). null: subnet_ids."
  default     = null
  nullable    = true

  validation {
    condition     = var.vpc_endpoint_subnet_ids == null || alltrue([for s in(var.vpc_endpoint_subnet_ids == null ? [] : var.vpc_endpoint_subnet_ids) : can(regex("^subnet-[0-9a-f]{8}([0-9a-f]{9})?$", s))])
    error_message = "vpc_endpoint_subnet_ids must be null or ids like subnet-0123456789abcdef0."
  }
}

variable "https_egress_cidr_blocks" {
  type        = list(string)
  description = "When create_vpc_endpoints is false: IPv4 CIDRs the bastions may reach on 443 (existing SSM endpoints' subnets, or a NAT route)."
  default     = []
  nullable    = false

  validation {
    condition     = alltrue([for c in var.https_egress_cidr_blocks : can(cidrhost(c, 0))])
    error_message = "https_egress_cidr_blocks must hold IPv4 CIDR blocks."
  }
}

variable "https_egress_prefix_list_ids" {
  type        = list(string)
  description = "When create_vpc_endpoints is false: managed prefix lists the bastions may reach on 443."
  default     = []
  nullable    = false

  validation {
    condition     = alltrue([for p in var.https_egress_prefix_list_ids : can(regex("^pl-[0-9a-f]{8}([0-9a-f]{9})?$", p))])
    error_message = "https_egress_prefix_list_ids must hold ids like pl-0123456789abcdef0."
  }
}

###############################################################################
# Optional parts
###############################################################################

variable "create_idempotency_table" {
  type        = bool
  description = "Create the DynamoDB table for Powertools idempotency and per-user slots (IDEMPOTENCY_TABLE). false: the code runs without it."
  default     = true
  nullable    = false
}

variable "idempotency_table_deletion_protection" {
  type        = bool
  description = "Deletion protection of the idempotency table. Its items expire within hours, so the default lets `terraform destroy` remove it."
  default     = false
  nullable    = false
}

variable "create_function_url" {
  type        = bool
  description = "Create the public Lambda Function URL that Slack posts slash commands and button clicks to (output slack_request_url). The Slack v0 signature check in the code is its gate."
  default     = true
  nullable    = false
}

variable "create_iam_door" {
  type        = bool
  description = "Create the IAM door: a Lambda alias `iam` of the orchestrator with its own Function URL (`AWS_IAM` auth, SigV4-signed requests only) for developers' terminals and the `bastion` CLI (outputs iam_door_url, iam_door_invoke_policy_json, cli_config)."
  default     = true
  nullable    = false
}

variable "slack_secret_arn" {
  type        = string
  description = "Secrets Manager secret with the Slack JSON (`bot_token`, `signing_secret`, `webhook_url`) (SLACK_SECRET_ARN). Both functions may read only this secret. Prefer the full ARN (with the `-XXXXXX` suffix Secrets Manager adds); a partial ARN is allowed with `-??????` appended in IAM. null: no Slack."
  default     = null
  nullable    = true

  validation {
    condition     = var.slack_secret_arn == null || can(regex("^arn:[a-z-]+:secretsmanager:[a-z0-9-]+:[0-9]{12}:secret:.+$", var.slack_secret_arn))
    error_message = "slack_secret_arn must be null or a Secrets Manager secret ARN."
  }
}

variable "slack_secret_kms_key_arn" {
  type        = string
  description = "Customer managed KMS key that encrypts the Slack secret, if any: both functions get kms:Decrypt on it through Secrets Manager. null: the secret uses aws/secretsmanager."
  default     = null
  nullable    = true

  validation {
    condition     = var.slack_secret_kms_key_arn == null || can(regex("^arn:[a-z-]+:kms:[a-z0-9-]+:[0-9]{12}:key/.+$", var.slack_secret_kms_key_arn))
    error_message = "slack_secret_kms_key_arn must be null or a KMS key ARN."
  }
}

variable "slack_channel" {
  type        = string
  description = "Slack channel for lifecycle notices, posted with the secret's bot_token (SLACK_CHANNEL). null: none."
  default     = null
  nullable    = true

  validation {
    condition     = var.slack_channel == null || can(regex("^[#A-Za-z0-9_.-]{1,80}$", var.slack_channel))
    error_message = "slack_channel must be null or a channel id or name (1-80 of letters, digits, #_.-)."
  }
}

variable "slack_app_id" {
  type        = string
  description = "The Slack app (api_app_id, A...) whose slash commands and buttons the Slack door answers (SLACK_APP_ID); a correctly signed request from any other app answers 401 and changes nothing. Set it when one signing secret could serve more than one app or deployment. null: any app that signs with the secret's signing_secret."
  default     = null
  nullable    = true

  validation {
    condition     = var.slack_app_id == null || can(regex("^A[A-Z0-9]{2,31}$", var.slack_app_id))
    error_message = "slack_app_id must be null or a Slack app id (A followed by 2-31 capital letters or digits)."
  }
}

variable "slack_team_id" {
  type        = string
  description = "The Slack workspace (team_id, T...) whose slash commands and buttons the Slack door answers (SLACK_TEAM_ID); a correctly signed request from any other workspace the app is installed in answers 401 and changes nothing. null: any workspace."
  default     = null
  nullable    = true

  validation {
    condition     = var.slack_team_id == null || can(regex("^T[A-Z0-9]{2,31}$", var.slack_team_id))
    error_message = "slack_team_id must be null or a Slack workspace id (T followed by 2-31 capital letters or digits)."
  }
}

variable "sweep_schedule_expression" {
  type        = string
  description = "How often the safety-net sweep runs (EventBridge Scheduler rate or cron expression)."
  default     = "rate(15 minutes)"
  nullable    = false

  validation {
    condition     = can(regex("^(rate\\(\\d+ (minute|minutes|hour|hours)\\)|cron\\(.+\\))$", var.sweep_schedule_expression))
    error_message = "sweep_schedule_expression must be rate(N minutes|hours) or cron(...)."
  }
}

variable "alarm_sns_topic_arn" {
  type        = string
  description = "SNS topic notified by the alarms (dead-letter queue depth, function errors). null: alarms without actions."
  default     = null
  nullable    = true

  validation {
    condition     = var.alarm_sns_topic_arn == null || can(regex("^arn:[a-z-]+:sns:[a-z0-9-]+:[0-9]{12}:.+$", var.alarm_sns_topic_arn))
    error_message = "alarm_sns_topic_arn must be null or an SNS topic ARN."
  }
}

variable "create_alarms" {
  type        = bool
  description = "Create the CloudWatch alarms on dead-letter queue depth and function errors."
  default     = true
  nullable    = false
}

###############################################################################
# Session Manager
###############################################################################

variable "create_session_document" {
  type        = bool
  description = "Create the project's Session Manager preferences document `<project>-<env>-bastion-session` (shell sessions logged to an encrypted log group). Users select it with `--document-name`."
  default     = true
  nullable    = false
}

variable "manage_session_preferences" {
  type        = bool
  description = "Also manage `SSM-SessionManagerRunShell`, the account+region-wide default Session Manager preferences, with the same settings. Off by default: that document is shared by every instance and team in the account and region (and must be imported if it already exists)."
  default     = false
  nullable    = false
}

variable "idle_session_timeout_minutes" {
  type        = number
  description = "Session Manager idleSessionTimeout of the session documents."
  default     = 20
  nullable    = false

  validation {
    condition     = var.idle_session_timeout_minutes >= 1 && var.idle_session_timeout_minutes <= 60 && floor(var.idle_session_timeout_minutes) == var.idle_session_timeout_minutes
    error_message = "idle_session_timeout_minutes must be a whole number between 1 and 60."
  }
}

variable "max_session_duration_minutes" {
  type        = number
  description = "Session Manager maxSessionDuration of the session documents."
  default     = 120
  nullable    = false

  validation {
    condition     = var.max_session_duration_minutes >= 1 && var.max_session_duration_minutes <= 1440 && floor(var.max_session_duration_minutes) == var.max_session_duration_minutes
    error_message = "max_session_duration_minutes must be a whole number between 1 and 1440."
  }
}

###############################################################################
# The bastion host: boot, credentials, evidence
###############################################################################

variable "boot_profiles" {
  type        = list(string)
  description = "Boot profiles a create may name (BOOT_PROFILES); the first is the default. minimal: the dead-man switch and the MOTD; db-clients: also psql, mysql and redis clients from the distribution's repositories."
  default     = ["minimal"]
  nullable    = false

  validation {
    condition     = length(var.boot_profiles) >= 1 && length(distinct(var.boot_profiles)) == length(var.boot_profiles) && alltrue([for p in var.boot_profiles : contains(["minimal", "db-clients"], p)])
    error_message = "boot_profiles must name at least one of minimal, db-clients, each once (the first is the default)."
  }
}

variable "boot_script" {
  type        = string
  description = "The operator's own shell script, run as root at boot after the built-in profiles (BOOT_SCRIPT, passed base64-encoded). It travels in the bastion's user data, which every session user can read from instance metadata (and anyone allowed ec2:DescribeInstanceAttribute), as well as in both functions' environment: never put a secret in it; fetch secrets at boot with the instance role instead. At most 2048 characters (2048 bytes of UTF-8), so the functions' environment stays under Lambda's 4 KB. null: none."
  default     = null
  nullable    = true

  validation {
    condition     = var.boot_script == null || try(length(var.boot_script) <= 2048 && length(base64encode(var.boot_script)) <= 2732, false)
    error_message = "boot_script must be at most 2048 characters (and 2048 bytes of UTF-8): the functions' environment, which carries it base64-encoded, must stay under Lambda's 4 KB."
  }
}

variable "session_sudo" {
  type        = bool
  description = "Give the session user passwordless sudo (SESSION_SUDO). Off by default: shells run as the OS user bastion, which has no sudo, and ssm-user and ec2-user get none either, so a session user cannot become root or disable the dead-man switch that powers a bastion off at its hard cap. On: whoever opens a session is root on the bastion and can stop the dead-man switch (the schedules and the sweep still terminate it) and tamper with its own session's transcript before it is uploaded; turn it on only for deployments whose users must install or administer software on the bastion."
  default     = false
  nullable    = false
}

variable "snapshot_on_terminate" {
  type        = bool
  description = "Snapshot a bastion's root volume before any termination (SNAPSHOT_ON_TERMINATE), tagged with owner, reason and cause; the sweep deletes them after snapshot_retention_days. Both functions may then create snapshots of this deployment's volumes only, tagged as this deployment's at creation, and delete only those."
  default     = false
  nullable    = false
}

variable "snapshot_retention_days" {
  type        = number
  description = "Days a forensic snapshot is kept before the sweep deletes it (SNAPSHOT_RETENTION_DAYS)."
  default     = 30
  nullable    = false

  validation {
    condition     = var.snapshot_retention_days >= 1 && var.snapshot_retention_days <= 3650 && floor(var.snapshot_retention_days) == var.snapshot_retention_days
    error_message = "snapshot_retention_days must be a whole number between 1 and 3650."
  }
}

variable "bind_instance_credentials_to_vpc" {
  type        = bool
  description = "Deny every call made with a bastion's instance-role credentials unless it comes from that bastion through a VPC endpoint of its own VPC (aws:Ec2InstanceSourceVpc = aws:SourceVpc, aws:Ec2InstanceSourcePrivateIPv4 = aws:VpcSourceIp), or from instance_credentials_nat_cidrs. Turn off only when the bastions reach SSM through endpoints in another VPC (a shared hub) or through a NAT whose addresses you cannot list."
  default     = true
  nullable    = false
}

variable "instance_credentials_nat_cidrs" {
  type        = list(string)
  description = "Public IPv4 CIDRs of the NAT gateways the bastions reach AWS through when they use no VPC endpoint (create_vpc_endpoints = false, no endpoints in the VPC): calls from them (aws:SourceIp) are exempt from the VPC binding, since AWS sees no VPC on that path. Anything else behind the same NAT is then as good as the bastion."
  default     = []
  nullable    = false

  validation {
    condition     = alltrue([for c in var.instance_credentials_nat_cidrs : can(cidrhost(c, 0))])
    error_message = "instance_credentials_nat_cidrs must hold IPv4 CIDR blocks (the NAT gateways' public addresses, e.g. 203.0.113.10/32)."
  }
}

variable "session_logs_to_s3" {
  type        = bool
  description = "Also stream shell-session transcripts to an S3 bucket the module creates (KMS with the module key, versioned, TLS-only, public access blocked, bucket-owner-enforced, expired after session_logs_s3_retention_days), beside the CloudWatch log group. The bastions may only put objects under its `sessions/` prefix."
  default     = false
  nullable    = false
}

variable "session_logs_s3_retention_days" {
  type        = number
  description = "Days transcripts (and any overwritten versions of them) are kept in the S3 bucket: at least 90."
  default     = 365
  nullable    = false

  validation {
    condition     = var.session_logs_s3_retention_days >= 90 && var.session_logs_s3_retention_days <= 3653 && floor(var.session_logs_s3_retention_days) == var.session_logs_s3_retention_days
    error_message = "session_logs_s3_retention_days must be a whole number from 90 (the seeds promise HIPAA-minded customers 90 days of session logs) to 3653."
  }
}

variable "approval_required" {
  type        = bool
  description = "Approvals (APPROVAL_REQUIRED): a create from anyone but an approver waits until another person approves it in approval_channel. Needs approver_user_ids, approval_channel and create_idempotency_table (requests live in that table)."
  default     = false
  nullable    = false

  validation {
    condition     = !var.approval_required || (length(var.approver_user_ids) > 0 && var.approval_channel != null)
    error_message = "approval_required needs approver_user_ids and approval_channel."
  }
}

variable "approver_user_ids" {
  type        = list(string)
  description = "Slack user ids who may approve or deny requests (APPROVER_USER_IDS). Nobody approves their own request."
  default     = []
  nullable    = false

  validation {
    condition     = alltrue([for id in var.approver_user_ids : can(regex("^[A-Za-z0-9_.@-]{1,64}$", id))])
    error_message = "approver_user_ids must be Slack user ids (1-64 letters, digits or _.@-)."
  }
}

variable "approver_iam_principals" {
  type        = map(list(string))
  description = "For requests made through the IAM door: each approver's Slack id -> the IAM principals that person signs as (IAM user ARNs, role ARNs meaning every session of the role, assumed-role session or federated-user ARNs; prefer the role: a session name is the caller's to choose); [] for an approver who signs as none (APPROVER_IAM_PRINCIPALS). An approver without an entry cannot approve IAM-door requests: the orchestrator cannot tell they are not the requester, so it refuses."
  default     = {}
  nullable    = false

  validation {
    condition = alltrue(flatten([for id, arns in var.approver_iam_principals : concat(
      [can(regex("^[A-Za-z0-9_.@-]{1,64}$", id))],
      [for arn in arns : can(regex("^arn:aws[a-z-]*:(iam::[0-9]{12}:((role|user)/[A-Za-z0-9_+=,.@/-]+|root)|sts::[0-9]{12}:(assumed-role/[A-Za-z0-9_+=,.@-]+|federated-user)/[A-Za-z0-9_+=,.@-]+)$", arn))]
    )]))
    error_message = "approver_iam_principals maps Slack user ids to IAM user, role, root, assumed-role session or federated-user ARNs."
  }
}

variable "approval_channel" {
  type        = string
  description = "Slack channel (id or #name) where approval requests and break-glass launches are posted (APPROVAL_CHANNEL), through the app's bot token."
  default     = null

  validation {
    condition     = var.approval_channel == null || can(regex("^[#A-Za-z0-9_.-]{1,80}$", var.approval_channel))
    error_message = "approval_channel must be a channel id or #name."
  }
}

variable "approval_timeout_minutes" {
  type        = number
  description = "How long an approval request waits before it expires, launching nothing (APPROVAL_TIMEOUT_MINUTES). The 15-minute sweep expires it."
  default     = 30
  nullable    = false

  validation {
    condition     = var.approval_timeout_minutes >= 1 && var.approval_timeout_minutes <= 1440
    error_message = "approval_timeout_minutes must be between 1 and 1440."
  }
}

variable "break_glass_hours" {
  type        = number
  description = "The lifetime of a break-glass bastion (BREAK_GLASS_HOURS): created at once without approval, with a reason, announced in approval_channel."
  default     = 1
  nullable    = false

  validation {
    condition     = var.break_glass_hours > 0 && var.break_glass_hours <= 24
    error_message = "break_glass_hours must be more than 0 and at most 24."
  }
}
