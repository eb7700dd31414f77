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
  ssm_endpoint_services = var.create_vpc_endpoints ? toset(["ssm", "ssmmessages", "ec2messages"]) : toset([])
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

resource "aws_vpc_endpoint" "ssm" {
  for_each = local.ssm_endpoint_services

  vpc_id              = var.vpc_id
  service_name        = data.aws_vpc_endpoint_service.ssm[each.key].service_name
  vpc_endpoint_type   = "Interface"
  subnet_ids          = var.vpc_endpoint_subnet_ids != null ? var.vpc_endpoint_subnet_ids : var.subnet_ids
  security_group_ids  = [aws_security_group.vpc_endpoints[0].id]
  private_dns_enabled = true
  tags                = merge(local.tags, { Name = "${local.name}-${each.key}" })
}
