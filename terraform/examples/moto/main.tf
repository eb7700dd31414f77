# The module against a local moto server: used by tests/terraform/test_module_apply.py.
provider "aws" {
  region     = "us-east-1"
  access_key = "test"
  secret_key = "test"

  skip_credentials_validation = true
  skip_requesting_account_id  = true
  skip_metadata_api_check     = true
  s3_use_path_style           = true

  endpoints {
    cloudwatch     = var.endpoint
    dynamodb       = var.endpoint
    ec2            = var.endpoint
    iam            = var.endpoint
    kms            = var.endpoint
    lambda         = var.endpoint
    logs           = var.endpoint
    s3             = var.endpoint
    scheduler      = var.endpoint
    secretsmanager = var.endpoint
    sqs            = var.endpoint
    ssm            = var.endpoint
    sts            = var.endpoint
  }
}

resource "aws_vpc" "this" {
  #checkov:skip=CKV2_AWS_11:Throw-away VPC on a local moto server; see examples/complete for flow logs.
  #checkov:skip=CKV2_AWS_12:Throw-away VPC on a local moto server; see examples/complete for the locked default group.
  cidr_block           = "10.42.0.0/16"
  enable_dns_support   = true
  enable_dns_hostnames = true
}

resource "aws_subnet" "private" {
  count = 2

  vpc_id            = aws_vpc.this.id
  cidr_block        = cidrsubnet(aws_vpc.this.cidr_block, 8, count.index)
  availability_zone = ["us-east-1a", "us-east-1b"][count.index]
}

resource "aws_security_group" "rds" {
  #checkov:skip=CKV2_AWS_5:Test stand-in for a database's security group.
  name        = "moto-rds"
  description = "Database stand-in"
  vpc_id      = aws_vpc.this.id
}

resource "aws_secretsmanager_secret" "slack" {
  #checkov:skip=CKV_AWS_149:Test secret on a local moto server; no customer managed key needed.
  #checkov:skip=CKV2_AWS_57:Test secret on a local moto server; never rotated.
  name = "moto/bastion-orchestrator/slack"
}

# A value, so the notifier finds the secret (no Slack settings in it: notices are logged only).
resource "aws_secretsmanager_secret_version" "slack" {
  secret_id     = aws_secretsmanager_secret.slack.id
  secret_string = jsonencode({})
}

module "bastion_orchestrator" {
  source = "../.."

  project_name          = "docustack"
  environment           = "dev"
  vpc_id                = aws_vpc.this.id
  subnet_ids            = aws_subnet.private[*].id
  rds_security_group_id = aws_security_group.rds.id
  rds_endpoint          = "docustack-dev-db.cluster-abcdefghijkl.us-east-1.rds.amazonaws.com"
  package_path          = var.package_path
  slack_secret_arn      = aws_secretsmanager_secret.slack.arn
  admin_user_ids        = ["UADMIN"]
  admin_principal_arns  = ["arn:aws:iam::123456789012:role/platform-admin"]

  # An account whose EBS default encryption key is a customer managed key (moto's account).
  # Only the orchestrator's policy refers to it: moto evaluates no IAM, so it need not exist.
  ebs_kms_key_arn = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"

  # Every optional part of the bastion host on, so that its policies are rendered and checked
  # (tests/terraform): forensic snapshots, transcripts to S3, both boot profiles, an
  # operator's script.
  snapshot_on_terminate = true
  session_logs_to_s3    = true
  boot_profiles         = ["minimal", "db-clients"]
  boot_script           = "echo 'operator script ran' > /var/log/bastion-operator.log\n"
}

###############################################################################
# A developer role: may call the IAM door and open sessions on its own bastions only
###############################################################################

data "aws_caller_identity" "current" {}

# Humans assume it with their IAM user name as the session name (the trust policy enforces
# it), so aws:userid = AROA...:<user name> is theirs alone: the owner tag of an IAM-door
# bastion cannot be claimed by another user of the same role.
data "aws_iam_policy_document" "developer_assume" {
  statement {
    actions = ["sts:AssumeRole"]

    principals {
      type        = "AWS"
      identifiers = ["arn:aws:iam::${data.aws_caller_identity.current.account_id}:root"]
    }

    condition {
      test     = "StringLike"
      variable = "sts:RoleSessionName"
      values   = ["$${aws:username}"]
    }
  }
}

resource "aws_iam_role" "developer" {
  name                 = "docustack-dev-bastion-developer"
  description          = "Developers: the bastion IAM door and sessions on their own bastions"
  assume_role_policy   = data.aws_iam_policy_document.developer_assume.json
  max_session_duration = 3600
}

resource "aws_iam_role_policy" "developer_bastion_sessions" {
  name   = "bastion-sessions"
  role   = aws_iam_role.developer.id
  policy = module.bastion_orchestrator.bastion_user_policy_json
}

resource "aws_iam_role_policy" "developer_iam_door" {
  name   = "bastion-iam-door"
  role   = aws_iam_role.developer.id
  policy = module.bastion_orchestrator.iam_door_invoke_policy_json
}

output "orchestrator_function_name" {
  description = "Orchestrator function on the moto server."
  value       = module.bastion_orchestrator.orchestrator_function_name
}

output "auto_terminate_function_name" {
  description = "Auto-terminator function on the moto server."
  value       = module.bastion_orchestrator.auto_terminate_function_name
}

output "slack_function_name" {
  description = "Slack function (the public Slack Function URL) on the moto server."
  value       = module.bastion_orchestrator.slack_function_name
}

output "schedule_group_name" {
  description = "Schedule group on the moto server."
  value       = module.bastion_orchestrator.schedule_group_name
}

output "developer_role_name" {
  description = "The example developer role on the moto server."
  value       = aws_iam_role.developer.name
}

output "bastion_user_policy_json" {
  description = "The module's policy for developers, as rendered."
  value       = module.bastion_orchestrator.bastion_user_policy_json
}

output "iam_door_invoke_policy_json" {
  description = "The module's IAM door policy for developers, as rendered."
  value       = module.bastion_orchestrator.iam_door_invoke_policy_json
}

output "iam_door_function_arn" {
  description = "The IAM door's alias."
  value       = module.bastion_orchestrator.iam_door_function_arn
}

output "cli_config" {
  description = "What the bastion CLI needs."
  value       = module.bastion_orchestrator.cli_config
}

output "session_document_name" {
  description = "The logged shell document."
  value       = module.bastion_orchestrator.session_document_name
}

output "port_forward_document_name" {
  description = "The pinned database forward document."
  value       = module.bastion_orchestrator.port_forward_document_name
}

output "bastion_role_arn" {
  description = "The bastions' instance role."
  value       = module.bastion_orchestrator.bastion_role_arn
}

output "session_logs_bucket_name" {
  description = "The transcripts bucket."
  value       = module.bastion_orchestrator.session_logs_bucket_name
}

output "tag_protection_policy_json" {
  description = "The module's Deny policy for an SCP or permission boundary, as rendered."
  value       = module.bastion_orchestrator.tag_protection_policy_json
}

output "bastion_ami_id" {
  description = "The pinned bastion image."
  value       = module.bastion_orchestrator.bastion_ami_id
}

output "vpc_id" {
  description = "The example's VPC."
  value       = aws_vpc.this.id
}

output "kms_key_arn" {
  description = "The module key (session data keys)."
  value       = module.bastion_orchestrator.kms_key_arn
}

