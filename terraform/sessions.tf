###############################################################################
# Session Manager: where shell sessions are recorded
###############################################################################

locals {
  session_logging = var.create_session_document || var.manage_session_preferences

  # The database forward exists when the module knows the database's host.
  create_port_forward_document = var.rds_endpoint != null

  # The module's documents carry kmsKeyId: the bastion's agent then decrypts session keys.
  session_key_in_use = local.session_logging || local.create_port_forward_document

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

###############################################################################
# Session Manager: the database forward, pinned to this deployment's database
###############################################################################

locals {
  # Modelled on AWS-StartPortForwardingSessionToRemoteHost, with the same parameter names
  # (host, portNumber, localPortNumber) so the same start-session command works, but host and
  # portNumber accept exactly the database's endpoint and port: no forward to
  # 169.254.169.254, to another database or to any other port. rds_endpoint is validated as
  # a DNS name (letters, digits, hyphens, dots), so escaping the dots makes it a literal.
  rds_host = coalesce(var.rds_endpoint, "none")

  port_forward_content = local.create_port_forward_document ? jsonencode({
    schemaVersion = "1.0"
    description   = "Port forward from a ${local.name} bastion to its database, and nowhere else"
    sessionType   = "Port"
    # Port sessions are not transcribed (the stream is the database protocol, not a shell):
    # no log group here. What Session Manager applies to them is kept: session data
    # encrypted with the module key, and the same idle and maximum durations as the shell.
    # The audit trail is CloudTrail's StartSession (who, target, document, parameters).
    inputs = {
      kmsKeyId           = aws_kms_key.this.arn
      idleSessionTimeout = tostring(var.idle_session_timeout_minutes)
      maxSessionDuration = tostring(var.max_session_duration_minutes)
    }
    parameters = {
      host = {
        type           = "String"
        description    = "The database host: only ${local.rds_host}"
        default        = local.rds_host
        allowedPattern = "^${replace(local.rds_host, ".", "\\.")}$"
      }
      portNumber = {
        type           = "String"
        description    = "The database port: only ${var.rds_port}"
        default        = tostring(var.rds_port)
        allowedPattern = "^${var.rds_port}$"
      }
      localPortNumber = {
        type           = "String"
        description    = "(Optional) Port number on the local machine; 0 picks a free one"
        default        = "0"
        allowedPattern = "^([0-9]|[1-9][0-9]{1,3}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5])$"
      }
    }
    properties = {
      type            = "LocalPortForwarding"
      host            = "{{ host }}"
      portNumber      = "{{ portNumber }}"
      localPortNumber = "{{ localPortNumber }}"
    }
  }) : null
}

# `aws ssm start-session --target i-... --document-name <this>
#   --parameters localPortNumber=15432` (host and portNumber default to the database).
resource "aws_ssm_document" "port_forward" {
  count = local.create_port_forward_document ? 1 : 0

  name            = local.port_forward_document
  document_type   = "Session"
  document_format = "JSON"
  content         = local.port_forward_content
  tags            = local.tags
}

