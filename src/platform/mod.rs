//! Plumbing between kvsops and the operating system, kept apart from the operations that use it:
//! how files are written and read ([`fsio`]), how `git` is asked about a repository ([`git`]),
//! and how signals clean up temp files and reach child processes ([`signals`]). Nothing here
//! knows a file format, a key or a command-line flag.

pub mod fsio;
pub mod git;
pub mod signals;
