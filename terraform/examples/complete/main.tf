provider "aws" {
  region = var.region
}

locals {
  name = "${var.project_name}-${var.environment}"
  azs  = var.availability_zones
}

###############################################################################
# A VPC with two private subnets and no NAT: bastions reach SSM through the
# module's interface endpoints and nothing else.
###############################################################################

resource "aws_vpc" "this" {
  cidr_block           = "10.42.0.0/16"
  enable_dns_support   = true # required by the endpoints' private DNS
  enable_dns_hostnames = true
  tags                 = { Name = local.name }
}

# Nothing may use the default security group.
resource "aws_default_security_group" "this" {
  vpc_id = aws_vpc.this.id
  tags   = { Name = "${local.name}-default-unused" }
}

resource "aws_subnet" "private" {
  count = 2

  vpc_id                  = aws_vpc.this.id
  cidr_block              = cidrsubnet(aws_vpc.this.cidr_block, 8, count.index)
  availability_zone       = local.azs[count.index]
  map_public_ip_on_launch = false
  tags                    = { Name = "${local.name}-private-${local.azs[count.index]}" }
}

resource "aws_flow_log" "this" {
  vpc_id               = aws_vpc.this.id
  traffic_type         = "REJECT"
  log_destination_type = "cloud-watch-logs"
  log_destination      = aws_cloudwatch_log_group.flow_logs.arn
  iam_role_arn         = aws_iam_role.flow_logs.arn
}

resource "aws_cloudwatch_log_group" "flow_logs" {
  name              = "/aws/vpc/${local.name}-flow-logs"
  retention_in_days = 365
  kms_key_id        = aws_kms_key.example.arn
}

data "aws_iam_policy_document" "flow_logs_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["vpc-flow-logs.amazonaws.com"]
    }
  }
}

data "aws_iam_policy_document" "flow_logs" {
  statement {
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"]
    resources = ["${aws_cloudwatch_log_group.flow_logs.arn}:*"]
  }
}

resource "aws_iam_role" "flow_logs" {
  name               = "${local.name}-flow-logs"
  assume_role_policy = data.aws_iam_policy_document.flow_logs_assume.json
}

resource "aws_iam_role_policy" "flow_logs" {
  name   = "flow-logs"
  role   = aws_iam_role.flow_logs.id
  policy = data.aws_iam_policy_document.flow_logs.json
}

###############################################################################
# What a real stack would already have: the database's security group (no database
# here) and the Slack secret (its value is set out of band, never in Terraform state).
###############################################################################

resource "aws_security_group" "rds" {
  #checkov:skip=CKV2_AWS_5:Example stand-in for the database's security group; no database is created here.
  name        = "${local.name}-rds"
  description = "Database of ${local.name} (example: security group only)"
  vpc_id      = aws_vpc.this.id
  tags        = { Name = "${local.name}-rds" }
}

data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}

data "aws_iam_policy_document" "example_key" {
  #checkov:skip=CKV_AWS_109:Key policy: "*" is the key itself; administration stays with the account's IAM policies.
  #checkov:skip=CKV_AWS_111:Key policy: "*" is the key itself.
  #checkov:skip=CKV_AWS_356:Key policy: the resource of a key policy statement is always "*".
  statement {
    actions   = ["kms:*"]
    resources = ["*"]
    principals {
      type        = "AWS"
      identifiers = ["arn:${data.aws_partition.current.partition}:iam::${data.aws_caller_identity.current.account_id}:root"]
    }
  }

  statement {
    actions   = ["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"]
    resources = ["*"]
    principals {
      type        = "Service"
      identifiers = ["logs.${var.region}.${data.aws_partition.current.dns_suffix}"]
    }
    condition {
      test     = "ArnLike"
      variable = "kms:EncryptionContext:aws:logs:arn"
      values   = ["arn:${data.aws_partition.current.partition}:logs:${var.region}:${data.aws_caller_identity.current.account_id}:log-group:/aws/vpc/${local.name}-flow-logs"]
    }
  }
}

resource "aws_kms_key" "example" {
  description         = "${local.name} example: Slack secret and flow logs"
  enable_key_rotation = true
  policy              = data.aws_iam_policy_document.example_key.json
}

resource "aws_secretsmanager_secret" "slack" {
  #checkov:skip=CKV2_AWS_57:Slack tokens are rotated in Slack, not by a Secrets Manager rotation Lambda.
  name        = "${local.name}/bastion-orchestrator/slack"
  description = "Slack bot_token, signing_secret, webhook_url for the bastion orchestrator (JSON)"
  kms_key_id  = aws_kms_key.example.arn
}

###############################################################################
# The module: one block deploys everything
###############################################################################

module "bastion_orchestrator" {
  source = "../.."

  project_name          = var.project_name
  environment           = var.environment
  vpc_id                = aws_vpc.this.id
  subnet_ids            = aws_subnet.private[*].id
  rds_security_group_id = aws_security_group.rds.id
  rds_endpoint          = "${local.name}-db.cluster-abcdefghijkl.${var.region}.rds.amazonaws.com"
  package_path          = var.package_path

  slack_secret_arn         = aws_secretsmanager_secret.slack.arn
  slack_secret_kms_key_arn = aws_kms_key.example.arn
  admin_user_ids           = var.admin_user_ids
  admin_principal_arns     = var.admin_principal_arns

  # Evidence kept: transcripts to S3 as well as CloudWatch, a snapshot of every bastion's
  # root volume before it is terminated, and both boot profiles on offer.
  session_logs_to_s3    = true
  snapshot_on_terminate = true
  boot_profiles         = ["minimal", "db-clients"]
}

###############################################################################
# Developers: call the IAM door, open sessions on their own bastions only. With IAM
# Identity Center, put the same document in a permission set instead (module README).
###############################################################################

# Both module policies in one document (distinct statement ids).
data "aws_iam_policy_document" "developer" {
  source_policy_documents = [
    module.bastion_orchestrator.bastion_user_policy_json,
    module.bastion_orchestrator.iam_door_invoke_policy_json,
  ]
}

# The session name must be the caller's IAM user name: aws:userid (AROA...:<session name>)
# is then theirs alone, and nobody can claim another's IAM-door bastions.
data "aws_iam_policy_document" "developer_assume" {
  statement {
    actions = ["sts:AssumeRole"]

    principals {
      type        = "AWS"
      identifiers = ["arn:${data.aws_partition.current.partition}:iam::${data.aws_caller_identity.current.account_id}:root"]
    }

    condition {
      test     = "StringLike"
      variable = "sts:RoleSessionName"
      values   = ["$${aws:username}"]
    }
  }
}

resource "aws_iam_role" "developer" {
  name                 = "${local.name}-bastion-developer"
  description          = "Developers of ${local.name}: the bastion IAM door and sessions on their own bastions"
  assume_role_policy   = data.aws_iam_policy_document.developer_assume.json
  max_session_duration = 3600
}

resource "aws_iam_role_policy" "developer" {
  name   = "bastion-user"
  role   = aws_iam_role.developer.id
  policy = data.aws_iam_policy_document.developer.json
}
