output "orchestrator_function_name" {
  description = "Name of the orchestrator Lambda (`aws lambda invoke --function-name ...`)."
  value       = aws_lambda_function.this["orchestrator"].function_name
}

output "orchestrator_function_arn" {
  description = "ARN of the orchestrator Lambda."
  value       = aws_lambda_function.this["orchestrator"].arn
}

output "auto_terminate_function_name" {
  description = "Name of the auto-terminator Lambda."
  value       = aws_lambda_function.this["auto_terminate"].function_name
}

output "auto_terminate_function_arn" {
  description = "ARN of the auto-terminator Lambda (AUTO_TERMINATE_LAMBDA_ARN and WARNING_LAMBDA_ARN)."
  value       = aws_lambda_function.this["auto_terminate"].arn
}

output "orchestrator_role_arn" {
  description = "Execution role of the orchestrator."
  value       = aws_iam_role.orchestrator.arn
}

output "auto_terminate_role_arn" {
  description = "Execution role of the auto-terminator."
  value       = aws_iam_role.auto_terminate.arn
}

output "scheduler_role_arn" {
  description = "Role EventBridge Scheduler assumes to invoke the auto-terminator (SCHEDULER_ROLE_ARN)."
  value       = aws_iam_role.scheduler.arn
}

output "bastion_role_arn" {
  description = "Instance role of the bastions: Session Manager's agent calls and session logging only, usable from the bastion itself (VPC-bound)."
  value       = aws_iam_role.bastion.arn
}

output "bastion_instance_profile_name" {
  description = "Instance profile of the bastions (IAM_INSTANCE_PROFILE)."
  value       = aws_iam_instance_profile.bastion.name
}

output "bastion_security_group_id" {
  description = "Security group of the bastions (BASTION_SECURITY_GROUP_ID): no ingress."
  value       = aws_security_group.bastion.id
}

output "vpc_endpoints_security_group_id" {
  description = "Security group of the SSM interface endpoints; null when create_vpc_endpoints is false."
  value       = var.create_vpc_endpoints ? aws_security_group.vpc_endpoints[0].id : null
}

output "schedule_group_name" {
  description = "EventBridge Scheduler group of the per-bastion schedules and the sweep (SCHEDULE_GROUP)."
  value       = aws_scheduler_schedule_group.this.name
}

output "sweep_schedule_name" {
  description = "Name of the recurring sweep schedule."
  value       = aws_scheduler_schedule.sweep.name
}

output "orchestrator_log_group_name" {
  description = "CloudWatch log group of the orchestrator (the lifecycle audit log)."
  value       = aws_cloudwatch_log_group.function["orchestrator"].name
}

output "auto_terminate_log_group_name" {
  description = "CloudWatch log group of the auto-terminator."
  value       = aws_cloudwatch_log_group.function["auto_terminate"].name
}

output "session_log_group_name" {
  description = "CloudWatch log group of recorded shell sessions; null when no session document is managed."
  value       = local.session_logging ? aws_cloudwatch_log_group.sessions[0].name : null
}

output "session_logs_bucket_name" {
  description = "S3 bucket the shell-session transcripts are also uploaded to (under `sessions/`); null when session_logs_to_s3 is false or no session document is managed."
  value       = local.session_logs_s3 ? aws_s3_bucket.session_logs[0].id : null
}

output "bastion_ami_id" {
  description = "The one image the orchestrator may launch (AMI_ID): ami_id, or the Amazon Linux 2023 arm64 release the public SSM parameter named at the last apply."
  value       = local.ami_id
}

output "session_document_name" {
  description = "Session Manager preferences document to pass as `--document-name` for logged shell sessions; null when create_session_document is false."
  value       = var.create_session_document ? aws_ssm_document.session[0].name : null
}

output "idempotency_table_name" {
  description = "DynamoDB idempotency table (IDEMPOTENCY_TABLE); null when create_idempotency_table is false."
  value       = var.create_idempotency_table ? aws_dynamodb_table.idempotency[0].name : null
}

output "lambda_dead_letter_queue_arn" {
  description = "SQS queue receiving asynchronous invocations of either function that failed after retries."
  value       = aws_sqs_queue.lambda_dlq.arn
}

output "sweep_dead_letter_queue_arn" {
  description = "SQS queue receiving sweep deliveries EventBridge Scheduler could not make."
  value       = aws_sqs_queue.sweep_dlq.arn
}

output "kms_key_arn" {
  description = "The module's KMS key (logs, queues, table, schedule payload, session data). Users starting logged sessions need kms:GenerateDataKey on it."
  value       = aws_kms_key.this.arn
}

output "slack_request_url" {
  description = "Function URL to paste into the Slack app (slash command and interactivity request URL); null when create_function_url is false."
  value       = var.create_function_url ? aws_lambda_function_url.slack[0].function_url : null
}

output "slack_function_name" {
  description = "Name of the Slack function (the Function URL slack_request_url and its continuations, on a concurrency pool of its own); null when create_function_url is false."
  value       = var.create_function_url ? aws_lambda_function.this["slack"].function_name : null
}

output "tag_protection_policy_json" {
  description = "Deny policy (JSON) for an SCP or permission boundary: only this module's roles may launch bastions or write any of their tags, and nobody deletes them."
  value       = data.aws_iam_policy_document.tag_protection.json
}

output "port_forward_document_name" {
  description = "Session Manager document for the database forward, pinned to rds_endpoint and rds_port (PORT_FORWARD_DOCUMENT); null when rds_endpoint is null."
  value       = local.create_port_forward_document ? aws_ssm_document.port_forward[0].name : null
}

output "iam_door_url" {
  description = "Function URL of the IAM door (AWS_IAM auth: SigV4-signed requests, e.g. from the bastion CLI); null when create_iam_door is false."
  value       = var.create_iam_door ? aws_lambda_function_url.iam_door[0].function_url : null
}

output "iam_door_function_arn" {
  description = "ARN of the IAM door's alias of the orchestrator (`<orchestrator arn>:iam`), the resource of iam_door_invoke_policy_json; null when create_iam_door is false."
  value       = var.create_iam_door ? aws_lambda_alias.iam_door[0].arn : null
}

output "iam_door_invoke_policy_json" {
  description = "Policy (JSON) for developers' roles or permission sets: lambda:InvokeFunctionUrl on the IAM door with lambda:FunctionUrlAuthType = AWS_IAM (and lambda:InvokeFunction only via the function URL); null when create_iam_door is false."
  value       = var.create_iam_door ? data.aws_iam_policy_document.iam_door_invoke.json : null
}

output "bastion_user_policy_json" {
  description = "Policy (JSON) for developers' roles or permission sets: ssm:StartSession only on this deployment's bastions the caller owns (RequestedByUserId = aws:userid, or RequestedByEmail = the email principal tag) and only through the module's documents; Terminate/ResumeSession of their own sessions; the session data key."
  value       = data.aws_iam_policy_document.bastion_user.json
}

output "cli_config" {
  description = "What a `bastion configure` needs to reach this deployment: environment, project, region and the IAM door's url (null when create_iam_door is false)."
  value = {
    environment = var.environment
    project     = var.project_name
    region      = local.region
    url         = var.create_iam_door ? aws_lambda_function_url.iam_door[0].function_url : null
  }
}
