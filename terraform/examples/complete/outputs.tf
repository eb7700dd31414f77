output "orchestrator_function_name" {
  description = "Invoke it with `aws lambda invoke --function-name <this> --payload ...`."
  value       = module.bastion_orchestrator.orchestrator_function_name
}

output "slack_request_url" {
  description = "Paste into the Slack app's slash command and interactivity settings."
  value       = module.bastion_orchestrator.slack_request_url
}

output "session_document_name" {
  description = "Pass as --document-name to `aws ssm start-session` for a logged shell."
  value       = module.bastion_orchestrator.session_document_name
}

output "schedule_group_name" {
  description = "EventBridge Scheduler group holding the bastions' schedules."
  value       = module.bastion_orchestrator.schedule_group_name
}

output "port_forward_document_name" {
  description = "Pass as --document-name to `aws ssm start-session` for the database forward."
  value       = module.bastion_orchestrator.port_forward_document_name
}

output "iam_door_url" {
  description = "The IAM door: SigV4-signed requests from developers' terminals."
  value       = module.bastion_orchestrator.iam_door_url
}

output "cli_config" {
  description = "What `bastion configure` needs (environment, project, region, url)."
  value       = module.bastion_orchestrator.cli_config
}

output "developer_role_arn" {
  description = "Role for developers: the IAM door and sessions on their own bastions."
  value       = aws_iam_role.developer.arn
}
