//! Atomic writes and private temp files (not yet implemented).
