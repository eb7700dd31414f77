# Where resources of earlier versions of the module now live, so that `terraform apply` after
# an upgrade moves them in the state instead of destroying and recreating them (a recreated
# log group would lose its logs). The functions, their log groups and their asynchronous retry
# settings were one resource each per function; they are one resource over local.functions.
# A `moved` block whose old address is absent from the state (a new deployment, or one without
# the Slack function) does nothing.

moved {
  from = aws_lambda_function.orchestrator
  to   = aws_lambda_function.this["orchestrator"]
}

moved {
  from = aws_lambda_function.slack[0]
  to   = aws_lambda_function.this["slack"]
}

moved {
  from = aws_lambda_function.auto_terminate
  to   = aws_lambda_function.this["auto_terminate"]
}

moved {
  from = aws_cloudwatch_log_group.orchestrator
  to   = aws_cloudwatch_log_group.function["orchestrator"]
}

moved {
  from = aws_cloudwatch_log_group.slack[0]
  to   = aws_cloudwatch_log_group.function["slack"]
}

moved {
  from = aws_cloudwatch_log_group.auto_terminate
  to   = aws_cloudwatch_log_group.function["auto_terminate"]
}

moved {
  from = aws_lambda_function_event_invoke_config.orchestrator
  to   = aws_lambda_function_event_invoke_config.function["orchestrator"]
}

moved {
  from = aws_lambda_function_event_invoke_config.slack[0]
  to   = aws_lambda_function_event_invoke_config.function["slack"]
}

moved {
  from = aws_lambda_function_event_invoke_config.auto_terminate
  to   = aws_lambda_function_event_invoke_config.function["auto_terminate"]
}
