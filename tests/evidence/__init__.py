"""Evidence: import, feeds, triage, curation and suggestions."""
