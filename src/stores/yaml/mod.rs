//! The yaml store (not yet implemented).

pub mod emit;

use crate::error::{Error, Result};
use crate::metadata::Metadata;
use crate::stores::{EncryptedFile, Format, Store};
use crate::tree::Document;

/// The yaml store.
pub struct YamlStore { #[allow(dead_code)] indent: usize }
impl YamlStore { /// A store with its settings.
 pub fn new(indent: usize) -> Self { YamlStore { indent } } }

impl Store for YamlStore {
    fn format(&self) -> Format { Format::Yaml }
    fn load_plain(&self, _input: &[u8]) -> Result<Vec<Document>> { Err(Error::Unsupported("yaml is not implemented yet".into())) }
    fn load_encrypted(&self, _input: &[u8]) -> Result<EncryptedFile> { Err(Error::Unsupported("yaml is not implemented yet".into())) }
    fn emit_plain(&self, _d: &[Document], _s: Option<&[u8]>) -> Result<Vec<u8>> { Err(Error::Unsupported("yaml is not implemented yet".into())) }
    fn emit_encrypted(&self, _d: &[Document], _m: &Metadata, _s: Option<&[u8]>) -> Result<Vec<u8>> { Err(Error::Unsupported("yaml is not implemented yet".into())) }
    fn has_marker(&self, _input: &[u8]) -> bool { false }
}
