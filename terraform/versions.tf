terraform {
  # 1.5: `check` blocks and the `import` block; preconditions are used for the
  # cross-variable rules that variable validations cannot express before 1.9.
  required_version = ">= 1.5"

  required_providers {
    aws = {
      source = "hashicorp/aws"
      # Lower bound only: this is a module, the root configuration pins the exact version.
      # 5.40 brings aws_vpc_security_group_*_rule, scheduler kms_key_arn and lambda logging_config.
      version = ">= 5.40"
    }
  }
}
