###############################################################################
# EventBridge Scheduler: the group the code creates one-shot schedules in
# (`<project>-<env>-<instance_id>-warning` / `-termination`), and the recurring sweep
###############################################################################

resource "aws_scheduler_schedule_group" "this" {
  name = local.schedule_group_name
  tags = local.tags
}

resource "aws_sqs_queue" "sweep_dlq" {
  name                              = "${local.name}-sweep-dlq"
  message_retention_seconds         = 1209600
  kms_master_key_id                 = aws_kms_key.this.arn
  kms_data_key_reuse_period_seconds = 3600
  tags                              = local.tags
}

# The safety net for lost schedules: terminates whatever has expired.
resource "aws_scheduler_schedule" "sweep" {
  name                         = local.sweep_schedule_name
  group_name                   = aws_scheduler_schedule_group.this.name
  description                  = "${local.name}: terminate expired bastions whose schedules were lost"
  schedule_expression          = var.sweep_schedule_expression
  schedule_expression_timezone = "UTC"
  state                        = "ENABLED"
  kms_key_arn                  = aws_kms_key.this.arn

  flexible_time_window {
    mode = "OFF"
  }

  target {
    arn      = aws_lambda_function.this["auto_terminate"].arn
    role_arn = aws_iam_role.scheduler.arn
    input    = jsonencode({ action = "sweep" })

    dead_letter_config {
      arn = aws_sqs_queue.sweep_dlq.arn
    }

    retry_policy {
      maximum_event_age_in_seconds = 3600
      maximum_retry_attempts       = 3
    }
  }

  depends_on = [aws_iam_role_policy.scheduler]
}
