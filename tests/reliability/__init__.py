"""The reliability layer: long-running and adversarial tests (see README.md here)."""
