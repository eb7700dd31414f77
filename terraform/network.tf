###############################################################################
# Bastion security group: no ingress at all; egress to SSM (443) and the database only
###############################################################################

resource "aws_security_group" "bastion" {
  #checkov:skip=CKV2_AWS_5:Attached at run time: the orchestrator Lambda launches bastions into this group (BASTION_SECURITY_GROUP_ID).
  name        = "${local.name}-bastion"
  description = "Bastions of ${local.name}: no ingress (SSM only), egress to SSM endpoints and the database"
  vpc_id      = var.vpc_id
  tags        = merge(local.tags, { Name = "${local.name}-bastion" })
}

resource "aws_vpc_security_group_egress_rule" "bastion_to_ssm_endpoints" {
  count = var.create_vpc_endpoints ? 1 : 0

  security_group_id            = aws_security_group.bastion.id
  description                  = "HTTPS to the SSM interface endpoints"
  ip_protocol                  = "tcp"
  from_port                    = 443
  to_port                      = 443
  referenced_security_group_id = aws_security_group.vpc_endpoints[0].id
  tags                         = local.tags
}

resource "aws_vpc_security_group_egress_rule" "bastion_https_cidr" {
  for_each = var.create_vpc_endpoints ? toset([]) : toset(var.https_egress_cidr_blocks)

  security_group_id = aws_security_group.bastion.id
  description       = "HTTPS to SSM through existing endpoints or a NAT"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
  cidr_ipv4         = each.value
  tags              = local.tags
}

resource "aws_vpc_security_group_egress_rule" "bastion_https_prefix_list" {
  for_each = var.create_vpc_endpoints ? toset([]) : toset(var.https_egress_prefix_list_ids)

  security_group_id = aws_security_group.bastion.id
  description       = "HTTPS to SSM through a managed prefix list"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
  prefix_list_id    = each.value
  tags              = local.tags
}

resource "aws_vpc_security_group_egress_rule" "bastion_to_rds" {
  security_group_id            = aws_security_group.bastion.id
  description                  = "Database port to the RDS security group"
  ip_protocol                  = "tcp"
  from_port                    = var.rds_port
  to_port                      = var.rds_port
  referenced_security_group_id = var.rds_security_group_id
  tags                         = local.tags
}

# The database side of the same path, added to the caller's RDS security group.
resource "aws_vpc_security_group_ingress_rule" "rds_from_bastion" {
  security_group_id            = var.rds_security_group_id
  description                  = "${local.name} bastions (port forwarding through SSM)"
  ip_protocol                  = "tcp"
  from_port                    = var.rds_port
  to_port                      = var.rds_port
  referenced_security_group_id = aws_security_group.bastion.id
  tags                         = local.tags
}

###############################################################################
# Optional SSM interface endpoints (no NAT needed)
###############################################################################

locals {
  # The endpoints the bastions need, and what each may carry for them (the endpoint policy):
  # the calls of the bastion role's own policy, made by the bastion role, nothing else. With
  # private DNS an endpoint answers the whole VPC, but its security group admits the bastions
  # only, so nobody else's traffic is cut off by these policies.
  #
  # No ec2messages endpoint: it is Run Command's channel, which the bastion role may not use;
  # AWS documents that SSM Agent 3.3.40.0 and later (every current Amazon Linux 2023 release)
  # uses ssmmessages where ec2messages used to be needed.
  endpoint_access = merge(
    {
      ssm = {
        AgentHeartbeat = {
          actions   = ["ssm:UpdateInstanceInformation"]
          resources = ["${local.ec2_arn_prefix}:instance/*"]
          context   = {}
        }
      }
      ssmmessages = {
        SessionChannels = {
          actions = [
            "ssmmessages:CreateControlChannel",
            "ssmmessages:CreateDataChannel",
            "ssmmessages:OpenControlChannel",
            "ssmmessages:OpenDataChannel",
          ]
          resources = ["*"]
          context   = {}
        }
      }
    },
    local.session_logging ? {
      logs = {
        AppendToTheSessionLogGroupOnly = {
          actions   = ["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"]
          resources = ["${local.session_log_group_arn}:*"]
          context   = {}
        }
        AgentChecksTheLogGroupIsEncrypted = {
          actions   = ["logs:DescribeLogGroups"]
          resources = ["arn:${local.partition}:logs:${local.region}:${local.account_id}:log-group:*"]
          context   = {}
        }
      }
    } : {},
    local.session_key_in_use ? {
      kms = {
        SessionDataKeysOnly = {
          actions   = ["kms:Decrypt"]
          resources = [aws_kms_key.this.arn]
          context   = local.session_key_context
        }
      }
    } : {},
    local.session_logs_s3 ? {
      s3 = {
        PutTranscriptsUnderThePrefixOnly = {
          actions   = ["s3:PutObject"]
          resources = ["${local.session_logs_bucket_arn}/${local.session_logs_prefix}/*"]
          context   = {}
        }
        AgentChecksTheBucketIsEncrypted = {
          actions   = ["s3:GetEncryptionConfiguration"]
          resources = [local.session_logs_bucket_arn]
          context   = {}
        }
      }
    } : {},
  )

  ssm_endpoint_services = var.create_vpc_endpoints ? local.endpoint_access : {}
}

resource "aws_security_group" "vpc_endpoints" {
  count = var.create_vpc_endpoints ? 1 : 0

  name        = "${local.name}-ssm-endpoints"
  description = "SSM interface endpoints of ${local.name}: HTTPS from the bastions only"
  vpc_id      = var.vpc_id
  tags        = merge(local.tags, { Name = "${local.name}-ssm-endpoints" })
}

resource "aws_vpc_security_group_ingress_rule" "endpoints_from_bastion" {
  count = var.create_vpc_endpoints ? 1 : 0

  security_group_id            = aws_security_group.vpc_endpoints[0].id
  description                  = "HTTPS from the bastions"
  ip_protocol                  = "tcp"
  from_port                    = 443
  to_port                      = 443
  referenced_security_group_id = aws_security_group.bastion.id
  tags                         = local.tags
}

data "aws_vpc_endpoint_service" "ssm" {
  for_each = local.ssm_endpoint_services

  service      = each.key
  service_type = "Interface"
}

data "aws_iam_policy_document" "vpc_endpoint" {
  for_each = local.ssm_endpoint_services

  dynamic "statement" {
    for_each = each.value
    content {
      sid       = statement.key
      actions   = statement.value.actions
      resources = statement.value.resources

      principals {
        type        = "AWS"
        identifiers = ["*"]
      }

      # Only this deployment's bastions (their role), from this account.
      condition {
        test     = "ArnEquals"
        variable = "aws:PrincipalArn"
        values   = [aws_iam_role.bastion.arn]
      }

      dynamic "condition" {
        for_each = statement.value.context
        content {
          test     = "StringLike"
          variable = condition.key
          values   = condition.value
        }
      }
    }
  }
}

resource "aws_vpc_endpoint" "ssm" {
  for_each = local.ssm_endpoint_services

  vpc_id              = var.vpc_id
  service_name        = data.aws_vpc_endpoint_service.ssm[each.key].service_name
  vpc_endpoint_type   = "Interface"
  subnet_ids          = var.vpc_endpoint_subnet_ids != null ? var.vpc_endpoint_subnet_ids : var.subnet_ids
  security_group_ids  = [aws_security_group.vpc_endpoints[0].id]
  private_dns_enabled = true
  # A service without endpoint policies (none of these today) gets none rather than an error.
  policy = data.aws_vpc_endpoint_service.ssm[each.key].vpc_endpoint_policy_supported ? data.aws_iam_policy_document.vpc_endpoint[each.key].json : null
  tags   = merge(local.tags, { Name = "${local.name}-${each.key}" })

  # S3 offers gateway and interface endpoints: private DNS must answer in the VPC itself, not
  # only for on-premises resolvers (the module creates no gateway endpoint).
  dynamic "dns_options" {
    for_each = each.key == "s3" ? [1] : []
    content {
      private_dns_only_for_inbound_resolver_endpoint = false
    }
  }
}
