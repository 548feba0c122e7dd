//! `.sops.yaml` (not yet implemented).
