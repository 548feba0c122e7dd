//! What the commands do (not yet implemented).
