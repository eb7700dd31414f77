variable "endpoint" {
  type        = string
  description = "URL of the local moto server, e.g. http://127.0.0.1:5000."

  validation {
    condition     = can(regex("^http://(127\\.0\\.0\\.1|localhost):[0-9]+$", var.endpoint))
    error_message = "endpoint must be a local moto server (http://127.0.0.1:PORT)."
  }
}

variable "package_path" {
  type        = string
  description = "Deployment zip (the test builds a small one from the sources)."
}
