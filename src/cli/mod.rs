//! The command line (not yet implemented).
