//! The dotenv store (not yet implemented).

use crate::error::{Error, Result};
use crate::metadata::Metadata;
use crate::stores::{EncryptedFile, Format, Store};
use crate::tree::Document;

/// The dotenv store.
pub struct DotenvStore;

impl Store for DotenvStore {
    fn format(&self) -> Format { Format::Dotenv }
    fn load_plain(&self, _input: &[u8]) -> Result<Vec<Document>> { Err(Error::Unsupported("dotenv is not implemented yet".into())) }
    fn load_encrypted(&self, _input: &[u8]) -> Result<EncryptedFile> { Err(Error::Unsupported("dotenv is not implemented yet".into())) }
    fn emit_plain(&self, _d: &[Document], _s: Option<&[u8]>) -> Result<Vec<u8>> { Err(Error::Unsupported("dotenv is not implemented yet".into())) }
    fn emit_encrypted(&self, _d: &[Document], _m: &Metadata, _s: Option<&[u8]>) -> Result<Vec<u8>> { Err(Error::Unsupported("dotenv is not implemented yet".into())) }
    fn has_marker(&self, _input: &[u8]) -> bool { false }
}
