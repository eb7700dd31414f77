###############################################################################
# Session Manager: where shell sessions are recorded
###############################################################################

locals {
  session_logging = var.create_session_document || var.manage_session_preferences

  session_preferences = jsonencode({
    schemaVersion = "1.0"
    description   = "Session Manager preferences for ${local.name} bastions"
    sessionType   = "Standard_Stream"
    inputs = {
      s3BucketName                = ""
      s3KeyPrefix                 = ""
      s3EncryptionEnabled         = true
      cloudWatchLogGroupName      = local.session_log_group
      cloudWatchEncryptionEnabled = true
      cloudWatchStreamingEnabled  = true
      kmsKeyId                    = aws_kms_key.this.arn
      runAsEnabled                = false
      runAsDefaultUser            = ""
      idleSessionTimeout          = tostring(var.idle_session_timeout_minutes)
      maxSessionDuration          = tostring(var.max_session_duration_minutes)
      shellProfile = {
        linux   = ""
        windows = ""
      }
    }
  })
}

resource "aws_cloudwatch_log_group" "sessions" {
  count = local.session_logging ? 1 : 0

  name              = local.session_log_group
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.this.arn
  tags              = local.tags
}

# Project-specific preferences: `aws ssm start-session --target i-... --document-name <this>`.
resource "aws_ssm_document" "session" {
  count = var.create_session_document ? 1 : 0

  name            = local.session_document_name
  document_type   = "Session"
  document_format = "JSON"
  content         = local.session_preferences
  tags            = local.tags

  depends_on = [aws_cloudwatch_log_group.sessions]
}

# The account+region-wide default preferences (what a plain `start-session` uses). Opt-in.
resource "aws_ssm_document" "session_manager_run_shell" {
  count = var.manage_session_preferences ? 1 : 0

  name            = "SSM-SessionManagerRunShell"
  document_type   = "Session"
  document_format = "JSON"
  content         = local.session_preferences
  tags            = local.tags

  depends_on = [aws_cloudwatch_log_group.sessions]
}
