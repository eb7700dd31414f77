"""One adapter per AWS service. Each turns ``ClientError`` codes into the project's errors."""
