"""Example organisations, shipped as package data so `govern init --example` works from an installed wheel."""
