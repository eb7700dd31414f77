# IAM of the bastion instances: their role (Session Manager and session logging only) and
# the instance profile the orchestrator launches them with.

###############################################################################
# The bastion instance: Session Manager only
###############################################################################

data "aws_iam_policy_document" "ec2_assume" {
  statement {
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["ec2.${local.dns_suffix}"]
    }
  }
}

resource "aws_iam_role" "bastion" {
  name                 = "${local.name}-bastion-instance"
  description          = "Bastion instances of ${local.name}: SSM Session Manager only"
  assume_role_policy   = data.aws_iam_policy_document.ec2_assume.json
  max_session_duration = 3600
  tags                 = local.tags
}

locals {
  session_log_group_arn   = "arn:${local.partition}:logs:${local.region}:${local.account_id}:log-group:${local.session_log_group}"
  session_logs_bucket_arn = "arn:${local.partition}:s3:::${local.session_logs_bucket}"
  s3_via_service          = "s3.${local.region}.${local.dns_suffix}"

  # The encryption context the SSM agent decrypts a session's data key with (the client that
  # started the session generated it with the same one).
  session_key_context = {
    "kms:EncryptionContext:aws:ssm:SessionId" = ["*"]
    "kms:EncryptionContext:aws:ssm:TargetId"  = ["i-*"]
  }

  # S3 encrypts transcripts with the module key on the uploader's behalf: the context is the
  # bucket (bucket keys) or the object.
  transcript_key_context = [local.session_logs_bucket_arn, "${local.session_logs_bucket_arn}/${local.session_logs_prefix}/*"]
}

# What the SSM agent needs for Session Manager and session logging, and nothing else. This is
# AWS's "minimal Session Manager permissions" instance profile (Systems Manager user guide,
# "Create a custom IAM role for Session Manager") plus the logging it describes:
#   - ssm:UpdateInstanceInformation: the agent's heartbeat (PingStatus Online, `ready`);
#   - ssmmessages:Create/Open Control/Data Channel: the session channels themselves;
#   - writing to the session log group (and checking it is encrypted), decrypting the
#     session's data key, putting transcripts into the S3 bucket.
# Deliberately not granted (AmazonSSMManagedInstanceCore had them all):
#   - ec2messages:*: Run Command's channel ("required to send and receive commands", AWS's
#     reference on ec2messages and ssmmessages); sessions use ssmmessages only, and nothing
#     should run on a bastion that its user did not type into a logged session;
#   - ssm:GetDocument, ssm:DescribeDocument, ssm:ListAssociations, ssm:ListInstanceAssociations,
#     ssm:UpdateInstanceAssociationStatus, ssm:PutInventory, ssm:PutComplianceItems,
#     ssm:PutConfigurePackageResult, ssm:DescribeAssociation, ssm:GetManifest: State Manager,
#     Inventory, Distributor and Run Command, none of which a bastion uses; a session's
#     preferences reach the agent inside the session's own start message;
#   - ssm:GetParameter(s) on "*": every parameter of the account, SecureStrings on the
#     default key included, for anyone on a bastion (the instance role's credentials are
#     served to every local user, root or not).
data "aws_iam_policy_document" "bastion_instance" {
  statement {
    sid       = "AgentHeartbeat"
    actions   = ["ssm:UpdateInstanceInformation"]
    resources = ["${local.ec2_arn_prefix}:instance/*"]
  }

  statement {
    sid = "SessionChannels"
    actions = [
      "ssmmessages:CreateControlChannel",
      "ssmmessages:CreateDataChannel",
      "ssmmessages:OpenControlChannel",
      "ssmmessages:OpenDataChannel",
    ]
    resources = ["*"] # ssmmessages has no resource-level permissions.
  }

  # Transcripts: new streams and new events in the session log group only. No
  # DeleteLogStream, DeleteLogGroup, PutRetentionPolicy or DeleteRetentionPolicy: a session
  # user cannot delete a transcript or shorten its life, and CloudWatch Logs has no API that
  # edits an event once written. They can append (events, streams) to this group.
  dynamic "statement" {
    for_each = local.session_logging ? [1] : []
    content {
      sid       = "AppendToTheSessionLogGroupOnly"
      actions   = ["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"]
      resources = ["${local.session_log_group_arn}:*"]
    }
  }

  dynamic "statement" {
    for_each = local.session_logging ? [1] : []
    content {
      sid       = "AgentChecksTheLogGroupIsEncrypted"
      actions   = ["logs:DescribeLogGroups"]
      resources = ["arn:${local.partition}:logs:${local.region}:${local.account_id}:log-group:*"]
    }
  }

  # The agent decrypts the data key of a session on this bastion (shell and port forward),
  # with the context Session Manager binds it to. Never a plain Decrypt of what the module
  # key protects elsewhere (queues, table, logs): those carry other contexts.
  dynamic "statement" {
    for_each = local.session_key_in_use ? [1] : []
    content {
      sid       = "SessionDataKeysOnly"
      actions   = ["kms:Decrypt"]
      resources = [aws_kms_key.this.arn]

      dynamic "condition" {
        for_each = local.session_key_context
        content {
          test     = "StringLike"
          variable = condition.key
          values   = condition.value
        }
      }
    }
  }

  # Transcripts to S3: a new object under the prefix (an overwrite becomes a new version; the
  # role can neither read, delete nor expire objects, nor change the bucket).
  dynamic "statement" {
    for_each = local.session_logs_s3 ? [1] : []
    content {
      sid       = "PutTranscriptsUnderThePrefixOnly"
      actions   = ["s3:PutObject"]
      resources = ["${local.session_logs_bucket_arn}/${local.session_logs_prefix}/*"]
    }
  }

  dynamic "statement" {
    for_each = local.session_logs_s3 ? [1] : []
    content {
      sid       = "AgentChecksTheBucketIsEncrypted"
      actions   = ["s3:GetEncryptionConfiguration"]
      resources = [local.session_logs_bucket_arn]
    }
  }

  # S3 asks KMS for the transcript's data key on the uploader's behalf (Decrypt as well for a
  # multipart upload): only through S3 and only for this bucket.
  dynamic "statement" {
    for_each = local.session_logs_s3 ? [1] : []
    content {
      sid       = "TranscriptKeysThroughS3Only"
      actions   = ["kms:GenerateDataKey", "kms:Decrypt"]
      resources = [aws_kms_key.this.arn]

      condition {
        test     = "StringEquals"
        variable = "kms:ViaService"
        values   = [local.s3_via_service]
      }

      condition {
        test     = "StringLike"
        variable = "kms:EncryptionContext:aws:s3:arn"
        values   = local.transcript_key_context
      }
    }
  }

  # The credentials work only on the bastion they were issued to. Every instance-role
  # credential carries the instance's VPC and primary private IP (aws:Ec2InstanceSourceVpc,
  # aws:Ec2InstanceSourcePrivateIPv4); a request through a VPC endpoint carries the VPC and
  # address it came from (aws:SourceVpc, aws:VpcSourceIp). AWS's documented pattern compares
  # the two. Requests that reach AWS without an endpoint (from a laptop, another network, a
  # NAT) carry neither aws:SourceVpc nor aws:VpcSourceIp, so the comparison fails and they are
  # denied: hence the module's own endpoints, and instance_credentials_nat_cidrs for bastions
  # that reach AWS through a NAT (aws:SourceIp is then the NAT's address). Calls AWS services
  # make on the role's behalf (S3 asking KMS for a transcript's key) are exempt
  # (aws:ViaAWSService).
  dynamic "statement" {
    for_each = var.bind_instance_credentials_to_vpc ? {
      DenyOutsideTheInstancesVpc      = { key = "aws:Ec2InstanceSourceVpc", variable = "$${aws:SourceVpc}" }
      DenyFromAnyOtherAddressInTheVpc = { key = "aws:Ec2InstanceSourcePrivateIPv4", variable = "$${aws:VpcSourceIp}" }
    } : {}
    content {
      sid       = statement.key
      effect    = "Deny"
      actions   = ["*"]
      resources = ["*"]

      condition {
        test     = "StringNotEquals"
        variable = statement.value.key
        values   = [statement.value.variable]
      }

      condition {
        test     = "Null"
        variable = "ec2:SourceInstanceARN"
        values   = ["false"]
      }

      condition {
        test     = "BoolIfExists"
        variable = "aws:ViaAWSService"
        values   = ["false"]
      }

      dynamic "condition" {
        for_each = length(var.instance_credentials_nat_cidrs) > 0 ? [1] : []
        content {
          test     = "NotIpAddressIfExists"
          variable = "aws:SourceIp"
          values   = var.instance_credentials_nat_cidrs
        }
      }
    }
  }
}

resource "aws_iam_role_policy" "bastion_instance" {
  name   = "session-manager-only"
  role   = aws_iam_role.bastion.id
  policy = data.aws_iam_policy_document.bastion_instance.json
}

resource "aws_iam_instance_profile" "bastion" {
  name = "${local.name}-bastion"
  role = aws_iam_role.bastion.name
  tags = local.tags
}
