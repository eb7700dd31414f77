###############################################################################
# Alarms: anything in a dead-letter queue, any function error
###############################################################################

locals {
  alarm_actions = var.alarm_sns_topic_arn == null ? [] : [var.alarm_sns_topic_arn]

  dlq_alarms = var.create_alarms ? {
    lambda = aws_sqs_queue.lambda_dlq.name
    sweep  = aws_sqs_queue.sweep_dlq.name
  } : {}

  error_alarms = var.create_alarms ? merge(
    {
      orchestrator   = aws_lambda_function.this["orchestrator"].function_name
      auto-terminate = aws_lambda_function.this["auto_terminate"].function_name
    },
    var.create_function_url ? { slack = aws_lambda_function.this["slack"].function_name } : {},
  ) : {}
}

resource "aws_cloudwatch_metric_alarm" "dlq_depth" {
  for_each = local.dlq_alarms

  alarm_name          = "${each.value}-not-empty"
  alarm_description   = "Messages in ${each.value}: an event failed after all retries (a bastion may have outlived its expiry). Inspect, fix, redrive."
  namespace           = "AWS/SQS"
  metric_name         = "ApproximateNumberOfMessagesVisible"
  dimensions          = { QueueName = each.value }
  statistic           = "Maximum"
  period              = 300
  evaluation_periods  = 1
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
  tags                = local.tags
}

resource "aws_cloudwatch_metric_alarm" "function_errors" {
  for_each = local.error_alarms

  alarm_name          = "${each.value}-errors"
  alarm_description   = "Lambda ${each.value} raised an unhandled error."
  namespace           = "AWS/Lambda"
  metric_name         = "Errors"
  dimensions          = { FunctionName = each.value }
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
  tags                = local.tags
}
