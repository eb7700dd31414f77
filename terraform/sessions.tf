###############################################################################
# Session Manager: where shell sessions are recorded
###############################################################################

locals {
  session_logging = var.create_session_document || var.manage_session_preferences

  # The database forward exists when the module knows the database's host.
  create_port_forward_document = var.rds_endpoint != null

  # The module's documents carry kmsKeyId: the bastion's agent then decrypts session keys.
  session_key_in_use = local.session_logging || local.create_port_forward_document

  # Transcripts to S3 as well (an upload at the end of each session, beside CloudWatch's live
  # stream): only where a logged shell document exists to name the bucket.
  session_logs_s3     = var.session_logs_to_s3 && local.session_logging
  session_logs_prefix = "sessions"
  # Globally unique and predictable: <project>-<env> (at most 30) + account + region, at most 62.
  session_logs_bucket = "${local.name}-ssm-${local.account_id}-${local.region}"

  # SSM sessions start a shell without a login, so PAM never shows the MOTD the bastion wrote
  # at boot (owner, reason, expiry, how to extend, the database forward): show it here.
  session_shell_profile = "cat /etc/motd.d/30-bastion 2>/dev/null; cd ~"

  # Shells run as the OS user the boot script creates (bastion_orchestrator/adapters/aws/ec2/boot.py,
  # SESSION_USER), which has sudo only with session_sudo. With Run As on, Session Manager
  # never falls back to ssm-user (whom SSM Agent makes with passwordless sudo), and a session
  # fails rather than start as anyone else while the user does not exist yet. A principal
  # tagged SSMSessionRunAs runs as that OS user instead, so the boot script refuses sudo to
  # ssm-user and ec2-user as well. Port sessions run no shell, so no OS user at all.
  session_os_user = "bastion"

  session_preferences = jsonencode({
    schemaVersion = "1.0"
    description   = "Session Manager preferences for ${local.name} bastions"
    sessionType   = "Standard_Stream"
    inputs = {
      s3BucketName                = local.session_logs_s3 ? aws_s3_bucket.session_logs[0].id : ""
      s3KeyPrefix                 = local.session_logs_s3 ? local.session_logs_prefix : ""
      s3EncryptionEnabled         = true
      cloudWatchLogGroupName      = local.session_log_group
      cloudWatchEncryptionEnabled = true
      cloudWatchStreamingEnabled  = true
      kmsKeyId                    = aws_kms_key.this.arn
      runAsEnabled                = true
      runAsDefaultUser            = local.session_os_user
      idleSessionTimeout          = tostring(var.idle_session_timeout_minutes)
      maxSessionDuration          = tostring(var.max_session_duration_minutes)
      shellProfile = {
        linux   = local.session_shell_profile
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

###############################################################################
# Session Manager: transcripts to S3 as well (session_logs_to_s3)
###############################################################################

# The agent uploads each shell session's transcript when it ends, as the bastion's instance
# role, which may only PutObject under `sessions/` (and use the module key through S3 for it).
# It cannot read, delete or expire objects, nor change the bucket: an overwrite by a session
# user becomes a new version, and the original stays until the lifecycle expires it.
resource "aws_s3_bucket" "session_logs" {
  #checkov:skip=CKV_AWS_18:Server access logs would need a second bucket in every deployment; the writes are the agent's PutObject calls, which CloudTrail data events record where the account enables them.
  #checkov:skip=CKV_AWS_144:Cross-region replication is a disaster-recovery choice of the account (a destination bucket and key in another region); the CloudWatch log group keeps a second copy of every transcript in the meantime.
  #checkov:skip=CKV2_AWS_62:Nothing consumes new transcripts as events; event notifications would only add a topic or queue to secure.
  count = local.session_logs_s3 ? 1 : 0

  bucket        = local.session_logs_bucket
  force_destroy = false
  tags          = local.tags
}

resource "aws_s3_bucket_ownership_controls" "session_logs" {
  count = local.session_logs_s3 ? 1 : 0

  bucket = aws_s3_bucket.session_logs[0].id

  # ACLs off: the account owns every transcript whoever uploaded it.
  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_public_access_block" "session_logs" {
  count = local.session_logs_s3 ? 1 : 0

  bucket                  = aws_s3_bucket.session_logs[0].id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_versioning" "session_logs" {
  count = local.session_logs_s3 ? 1 : 0

  bucket = aws_s3_bucket.session_logs[0].id

  versioning_configuration {
    status = "Enabled"
  }
}

# The agent refuses to upload (s3EncryptionEnabled) unless the bucket encrypts by default.
resource "aws_s3_bucket_server_side_encryption_configuration" "session_logs" {
  count = local.session_logs_s3 ? 1 : 0

  bucket = aws_s3_bucket.session_logs[0].id

  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = "aws:kms"
      kms_master_key_id = aws_kms_key.this.arn
    }
    bucket_key_enabled = true
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "session_logs" {
  count = local.session_logs_s3 ? 1 : 0

  bucket = aws_s3_bucket.session_logs[0].id

  rule {
    id     = "expire-transcripts"
    status = "Enabled"

    filter {}

    expiration {
      days = var.session_logs_s3_retention_days
    }

    # An overwritten transcript (a new version over the agent's) keeps its original as long.
    noncurrent_version_expiration {
      noncurrent_days = var.session_logs_s3_retention_days
    }

    abort_incomplete_multipart_upload {
      days_after_initiation = 7
    }
  }

  rule {
    id     = "remove-expired-delete-markers"
    status = "Enabled"

    filter {}

    expiration {
      expired_object_delete_marker = true
    }
  }

  depends_on = [aws_s3_bucket_versioning.session_logs]
}

data "aws_iam_policy_document" "session_logs_bucket" {
  count = local.session_logs_s3 ? 1 : 0

  statement {
    sid       = "TlsOnly"
    effect    = "Deny"
    actions   = ["s3:*"]
    resources = [aws_s3_bucket.session_logs[0].arn, "${aws_s3_bucket.session_logs[0].arn}/*"]

    principals {
      type        = "*"
      identifiers = ["*"]
    }

    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }

  statement {
    sid       = "Tls12OrNewer"
    effect    = "Deny"
    actions   = ["s3:*"]
    resources = [aws_s3_bucket.session_logs[0].arn, "${aws_s3_bucket.session_logs[0].arn}/*"]

    principals {
      type        = "*"
      identifiers = ["*"]
    }

    condition {
      test     = "NumericLessThan"
      variable = "s3:TlsVersion"
      values   = ["1.2"]
    }
  }

  # Belt and braces beside the instance role's own policy: whatever else a bastion's role is
  # ever given, it writes new transcripts and nothing else here.
  statement {
    sid         = "BastionsOnlyAddTranscripts"
    effect      = "Deny"
    not_actions = ["s3:PutObject", "s3:GetEncryptionConfiguration"]
    resources   = [aws_s3_bucket.session_logs[0].arn, "${aws_s3_bucket.session_logs[0].arn}/*"]

    principals {
      type        = "AWS"
      identifiers = ["*"]
    }

    condition {
      test     = "ArnEquals"
      variable = "aws:PrincipalArn"
      values   = [aws_iam_role.bastion.arn]
    }
  }
}

resource "aws_s3_bucket_policy" "session_logs" {
  count = local.session_logs_s3 ? 1 : 0

  bucket = aws_s3_bucket.session_logs[0].id
  policy = data.aws_iam_policy_document.session_logs_bucket[0].json

  depends_on = [aws_s3_bucket_public_access_block.session_logs]
}

# Project-specific preferences: `aws ssm start-session --target i-... --document-name <this>`.
resource "aws_ssm_document" "session" {
  count = var.create_session_document ? 1 : 0

  name            = local.session_document_name
  document_type   = "Session"
  document_format = "JSON"
  content         = local.session_preferences
  tags            = local.tags

  depends_on = [
    aws_cloudwatch_log_group.sessions,
    aws_s3_bucket_server_side_encryption_configuration.session_logs,
    aws_s3_bucket_policy.session_logs,
  ]
}

# The account+region-wide default preferences (what a plain `start-session` uses). Opt-in.
resource "aws_ssm_document" "session_manager_run_shell" {
  count = var.manage_session_preferences ? 1 : 0

  name            = "SSM-SessionManagerRunShell"
  document_type   = "Session"
  document_format = "JSON"
  content         = local.session_preferences
  tags            = local.tags

  depends_on = [
    aws_cloudwatch_log_group.sessions,
    aws_s3_bucket_server_side_encryption_configuration.session_logs,
    aws_s3_bucket_policy.session_logs,
  ]
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

