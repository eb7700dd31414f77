variable "region" {
  type        = string
  description = "Region to deploy the example into."
  default     = "eu-west-1"
}

variable "availability_zones" {
  type        = list(string)
  description = "Two Availability Zones of the region for the private subnets (and the SSM endpoints)."
  default     = ["eu-west-1a", "eu-west-1b"]

  validation {
    condition     = length(var.availability_zones) == 2
    error_message = "availability_zones must name exactly two zones."
  }
}

variable "project_name" {
  type        = string
  description = "Project name (resource names, bastion tags)."
  default     = "docustack"
}

variable "environment" {
  type        = string
  description = "Environment name (resource names, bastion tags)."
  default     = "dev"
}

variable "package_path" {
  type        = string
  description = "The zip built by `make package`."
  default     = "../../../dist/bastion-orchestrator.zip"
}

variable "admin_user_ids" {
  type        = list(string)
  description = "Slack user ids allowed to act on any bastion."
  default     = []
}

variable "admin_principal_arns" {
  type        = list(string)
  description = "IAM user or role ARNs that are admins on the IAM door."
  default     = []
}
