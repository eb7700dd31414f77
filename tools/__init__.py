"""Developer tools: measuring scripts, never imported by the product."""
