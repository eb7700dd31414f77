# IAM policies the module creates for others to attach, handed out as outputs (JSON):
# tag_protection_policy_json for platform teams, bastion_user_policy_json and
# iam_door_invoke_policy_json for developers' roles and permission sets.

###############################################################################
# For platform teams: keep everyone else's hands off the bastions' tags
###############################################################################

locals {
  # Everything of a bastion whose tags are state: the instance, its volume, its snapshots.
  bastion_taggable_arns = [
    "arn:${local.partition}:ec2:*:*:instance/*",
    "arn:${local.partition}:ec2:*:*:volume/*",
    "arn:${local.partition}:ec2:*:*:snapshot/*",
  ]
  module_function_role_arns = [aws_iam_role.orchestrator.arn, aws_iam_role.auto_terminate.arn]
}

data "aws_iam_policy_document" "tag_protection" {
  # Nobody strips a bastion's tags, whatever keys are named. A DeleteTags that names no keys
  # deletes them all, and then the request has no aws:TagKeys: a ForAnyValue condition on it
  # is false and such a Deny never applies. So no tag-key condition here at all (the module's
  # own roles never delete tags either).
  statement {
    sid       = "NobodyDeletesBastionTags"
    effect    = "Deny"
    actions   = ["ec2:DeleteTags"]
    resources = local.bastion_taggable_arns

    condition {
      test     = "StringEquals"
      variable = "ec2:ResourceTag/ManagedBy"
      values   = [local.managed_by]
    }
  }

  # Every tag of a bastion is state or evidence (owner, expiry, approval, break-glass, the
  # warning sent, the reason, the database forward, its name): only the module's roles write
  # any, whatever the key. No tag-key condition at all, as above: a list of protected keys
  # leaves out every key added after it was written.
  statement {
    sid       = "OnlyTheModuleRolesTagBastions"
    effect    = "Deny"
    actions   = ["ec2:CreateTags"]
    resources = local.bastion_taggable_arns

    condition {
      test     = "StringEquals"
      variable = "ec2:ResourceTag/ManagedBy"
      values   = [local.managed_by]
    }

    condition {
      test     = "ArnNotEquals"
      variable = "aws:PrincipalArn"
      values   = local.module_function_role_arns
    }
  }

  # Forging a bastion, its volume or its evidence: anything created or tagged
  # ManagedBy=bastion-orchestrator by anyone else.
  statement {
    sid       = "OnlyTheOrchestratorRolesCreateBastionsAndEvidence"
    effect    = "Deny"
    actions   = ["ec2:RunInstances", "ec2:CreateTags", "ec2:CreateSnapshot"]
    resources = local.bastion_taggable_arns

    condition {
      test     = "StringEquals"
      variable = "aws:RequestTag/ManagedBy"
      values   = [local.managed_by]
    }

    condition {
      test     = "ArnNotEquals"
      variable = "aws:PrincipalArn"
      values   = local.module_function_role_arns
    }
  }

  # The sweep terminates whatever carries the module's instance profile past its cap, tags or
  # not: nobody but the orchestrator may hand the bastion role to an instance.
  statement {
    sid       = "OnlyTheOrchestratorPassesTheBastionRole"
    effect    = "Deny"
    actions   = ["iam:PassRole"]
    resources = [aws_iam_role.bastion.arn]

    condition {
      test     = "ArnNotEquals"
      variable = "aws:PrincipalArn"
      values   = [aws_iam_role.orchestrator.arn]
    }
  }
}

###############################################################################
# For developers' roles and permission sets: who may connect to which bastion
###############################################################################

locals {
  ssm_document_arn_prefix = "arn:${local.partition}:ssm:${local.region}:${local.account_id}:document"

  # The module's logged documents, the only ones a session may be started with.
  # SSM-SessionManagerRunShell (a plain start-session) only when the module manages it.
  user_session_documents = concat(
    var.create_session_document ? [local.session_document_name] : [],
    var.manage_session_preferences ? ["SSM-SessionManagerRunShell"] : [],
    local.create_port_forward_document ? [local.port_forward_document] : [],
  )

  # Who owns a bastion, by how it was made. One statement each: the conditions of one
  # statement are ANDed, and a bastion carries one owner kind or the other.
  #   IAM door: RequestedByUserId is the caller's aws:userid (for a role, AROA...:<session>).
  #   Slack:    RequestedByEmail is the Slack user's email (users.info); the caller's email
  #             comes from a principal tag (IAM Identity Center attributes for access control).
  #             Case-insensitive: Slack and the identity provider may spell it differently.
  bastion_owner_matches = {
    IamDoor = { test = "StringEquals", tag = "RequestedByUserId", value = "$${aws:userid}" }
    Slack   = { test = "StringEqualsIgnoreCase", tag = "RequestedByEmail", value = "$${aws:PrincipalTag/email}" }
  }

  iam_door_alias_arn = "${local.orchestrator_arn}:${local.iam_door_alias}"
}

data "aws_iam_policy_document" "bastion_user" {
  # ssm:SessionDocumentAccessCheck makes StartSession name a document the caller may use (no
  # silent fallback to the unlogged default); AWS enforces it only when every statement that
  # allows ssm:StartSession carries it. The instance is authorised by these two statements,
  # the document by the next one: a document has no bastion tags, an instance is no document.
  dynamic "statement" {
    for_each = local.bastion_owner_matches
    content {
      sid       = "StartSessionOnOwnBastionsMadeThrough${statement.key}"
      actions   = ["ssm:StartSession"]
      resources = ["${local.ec2_arn_prefix}:instance/*"]

      dynamic "condition" {
        for_each = local.scope_tags
        content {
          test     = "StringEquals"
          variable = "ssm:resourceTag/${condition.key}"
          values   = [condition.value]
        }
      }

      condition {
        test     = statement.value.test
        variable = "ssm:resourceTag/${statement.value.tag}"
        values   = [statement.value.value]
      }

      condition {
        test     = "BoolIfExists"
        variable = "ssm:SessionDocumentAccessCheck"
        values   = ["true"]
      }
    }
  }

  # Only the module's documents: never AWS-StartSSHSession (an SSH tunnel the session log
  # cannot see) nor AWS-StartPortForwardingSessionToRemoteHost (any host, 169.254.169.254
  # included).
  dynamic "statement" {
    for_each = length(local.user_session_documents) > 0 ? [1] : []
    content {
      sid       = "StartSessionOnlyThroughTheModulesDocuments"
      actions   = ["ssm:StartSession"]
      resources = [for d in local.user_session_documents : "${local.ssm_document_arn_prefix}/${d}"]

      condition {
        test     = "BoolIfExists"
        variable = "ssm:SessionDocumentAccessCheck"
        values   = ["true"]
      }
    }
  }

  # Session Manager tags every session with aws:ssmmessages:session-id = the starter's
  # aws:userid (AIDA... for an IAM user, AROA...:<session name> for a role or an Identity
  # Center user). session/${aws:username}-* would miss roles and SSO users (no aws:username,
  # and their session ids start with the session name, not with aws:userid).
  statement {
    sid       = "EndOrResumeOnlyOwnSessions"
    actions   = ["ssm:TerminateSession", "ssm:ResumeSession"]
    resources = ["arn:${local.partition}:ssm:${local.region}:${local.account_id}:session/*"]

    condition {
      test     = "StringEquals"
      variable = "ssm:resourceTag/aws:ssmmessages:session-id"
      values   = ["$${aws:userid}"]
    }
  }

  # The session-manager-plugin itself calls kms:GenerateDataKey (not through SSM, so
  # kms:ViaService is absent) with the encryption context of the session and its target.
  statement {
    sid       = "SessionDataKeysForBastionSessionsOnly"
    actions   = ["kms:GenerateDataKey"]
    resources = [aws_kms_key.this.arn]

    condition {
      test     = "StringLike"
      variable = "kms:EncryptionContext:aws:ssm:SessionId"
      values   = ["*"]
    }

    condition {
      test     = "StringLike"
      variable = "kms:EncryptionContext:aws:ssm:TargetId"
      values   = ["i-*"]
    }
  }
}

# Calling the IAM door. Both actions, since AWS asks for lambda:InvokeFunction as well on
# function URLs created from October 2025; lambda:InvokedViaFunctionUrl keeps that one from
# becoming a direct invoke (the operators' door, which trusts the payload's user_id).
data "aws_iam_policy_document" "iam_door_invoke" {
  statement {
    sid       = "CallTheBastionIamDoor"
    actions   = ["lambda:InvokeFunctionUrl"]
    resources = [local.iam_door_alias_arn]

    condition {
      test     = "StringEquals"
      variable = "lambda:FunctionUrlAuthType"
      values   = ["AWS_IAM"]
    }
  }

  statement {
    sid       = "InvokeOnlyThroughTheIamDoorUrl"
    actions   = ["lambda:InvokeFunction"]
    resources = [local.iam_door_alias_arn]

    condition {
      test     = "Bool"
      variable = "lambda:InvokedViaFunctionUrl"
      values   = ["true"]
    }
  }
}

