"""The playbook generator: an onboarding guide built from the live configuration and data."""
