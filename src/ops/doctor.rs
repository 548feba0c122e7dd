//! Which Azure Key Vault keys `kvsops doctor` checks: the keys a file is encrypted with, the keys
//! of the creation rule a file (plaintext or not yet written) matches, keys given as URLs, and,
//! without arguments, every key of every creation rule of `.sops.yaml` plus
//! `SOPS_AZURE_KEYVAULT_URLS` — the keys `encrypt`, `decrypt` and `updatekeys` would use.
//! The checks themselves are [`crate::keys::azure::doctor`].

use std::path::Path;

use crate::config::Config;
use crate::error::{Error, Result};
use crate::keys::azure::doctor::DoctorKey;
use crate::keys::azure::parse_key_url;
use crate::keys::{KeySpec, MasterKeyEntry};
use crate::stores::Format;

/// The keys to check, and notes on arguments that gave none.
#[derive(Debug, Default)]
pub struct Targets {
    pub keys: Vec<DoctorKey>,
    /// Why an argument (or the config) gave no Azure key.
    pub notes: Vec<String>,
}

impl Targets {
    fn add(&mut self, vault_url: &str, name: &str, version: Option<&str>, origin: &str) {
        let version = version.filter(|v| !v.is_empty()).map(str::to_string);
        let origin = origin.to_string();
        match self.keys.iter_mut().find(|k| k.vault_url == vault_url && k.name == name && k.version == version) {
            Some(k) => {
                if !k.origins.contains(&origin) {
                    k.origins.push(origin);
                }
            }
            None => self.keys.push(DoctorKey {
                vault_url: vault_url.to_string(),
                name: name.to_string(),
                version,
                origins: vec![origin],
            }),
        }
    }

    fn add_spec(&mut self, spec: &KeySpec, origin: &str) -> bool {
        match spec {
            KeySpec::AzureKv { vault_url, name, version } => {
                self.add(vault_url, name, version.as_deref(), origin);
                true
            }
            _ => false,
        }
    }
}

/// Collects the keys for the arguments (`FILE` or `KEY-URL`); `cfg` is the `.sops.yaml` in force,
/// `env_urls` the value of `SOPS_AZURE_KEYVAULT_URLS`.
pub fn targets(args: &[String], cfg: Option<&Config>, env_urls: Option<&str>) -> Result<Targets> {
    let mut t = Targets::default();
    if args.is_empty() {
        match cfg {
            Some(c) => {
                for (i, rule) in c.creation_rules.iter().enumerate() {
                    let re =
                        rule.path_regex.as_ref().map(|r| format!(" (path_regex {})", r.as_str())).unwrap_or_default();
                    let origin = format!("creation rule {i} of {}{re}", c.path.display());
                    for spec in rule.key_groups.iter().flatten() {
                        t.add_spec(spec, &origin);
                    }
                }
                if t.keys.is_empty() {
                    t.notes.push(format!("no creation rule of {} names an Azure Key Vault key", c.path.display()));
                }
            }
            None => {
                t.notes.push("no .sops.yaml was found from the working directory (and --config was not given)".into())
            }
        }
        if let Some(urls) = env_urls.filter(|u| !u.trim().is_empty()) {
            for spec in crate::keys::azure::parse_key_urls(urls)? {
                t.add_spec(&spec, "SOPS_AZURE_KEYVAULT_URLS");
            }
        }
        return Ok(t);
    }
    for arg in args {
        if arg.trim_start().starts_with("https://") {
            let spec = parse_key_url(arg)?;
            t.add_spec(&spec, "command line");
            continue;
        }
        file_keys(Path::new(arg), cfg, &mut t)?;
    }
    Ok(t)
}

/// The keys of an encrypted file, else of the creation rule it matches.
fn file_keys(path: &Path, cfg: Option<&Config>, t: &mut Targets) -> Result<()> {
    let shown = path.display().to_string();
    if path.is_dir() {
        return Err(Error::Conflict(format!("{shown}: is a directory; name files or key URLs")));
    }
    if path.exists() {
        let input = crate::platform::fsio::read_file(path)?;
        let settings = cfg.map(|c| c.stores).unwrap_or_default();
        let store = Format::from_path(path).store(&settings);
        if let Ok(file) = store.load_encrypted(&input) {
            if !file.metadata.mac.is_empty() {
                let before = t.keys.len();
                let mut any = false;
                for entry in file.metadata.key_groups.iter().flatten() {
                    if let MasterKeyEntry::AzureKv { vault_url, name, version, .. } = entry {
                        t.add(vault_url, name, Some(version), &shown);
                        any = true;
                    }
                }
                if !any && t.keys.len() == before {
                    t.notes.push(format!("{shown} is encrypted without Azure Key Vault keys"));
                }
                return Ok(());
            }
        }
    }
    // Plaintext, or not written yet: the keys encrypting it would use.
    let Some(c) = cfg else {
        t.notes.push(format!(
            "{shown} is not an encrypted file, and there is no .sops.yaml whose rule could name its keys"
        ));
        return Ok(());
    };
    let Some(rule) = c.rule_for(path) else {
        t.notes
            .push(format!("{shown} is not an encrypted file, and no creation rule of {} matches it", c.path.display()));
        return Ok(());
    };
    let origin = format!("{shown} via the creation rule of {}", c.path.display());
    let mut any = false;
    for spec in rule.key_groups.iter().flatten() {
        any |= t.add_spec(spec, &origin);
    }
    if !any {
        t.notes.push(format!("the creation rule of {} for {shown} names no Azure Key Vault key", c.path.display()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(yaml: &str, dir: &Path) -> Config {
        let store = Format::Yaml.store(&Default::default());
        let docs = store.load_plain(yaml.as_bytes()).unwrap();
        let root = docs.first().map(|d| d.root.clone()).unwrap_or_default();
        Config::from_mapping(&root, dir.to_path_buf(), dir.join(".sops.yaml")).unwrap()
    }

    #[test]
    fn urls_rules_and_duplicates() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = config(
            "creation_rules:\n  - path_regex: prod/.*\n    azure_keyvault: https://a.vault.azure.net/keys/k1\n  - age: age1wwvum5hd6xssaj6nxluvy4w3rywkf6acryal2f30gqd2rd3xwvcqr6emd5\n    azure_keyvault: https://a.vault.azure.net/keys/k1,https://b.vault.azure.net/keys/k2/v2\n",
            dir.path(),
        );
        let t = targets(&[], Some(&cfg), Some("https://c.vault.azure.net/keys/k3")).unwrap();
        let urls: Vec<String> = t.keys.iter().map(|k| k.url()).collect();
        assert_eq!(
            urls,
            [
                "https://a.vault.azure.net/keys/k1",
                "https://b.vault.azure.net/keys/k2/v2",
                "https://c.vault.azure.net/keys/k3"
            ]
        );
        assert_eq!(t.keys[0].origins.len(), 2, "{:?}", t.keys[0].origins);
        // A file that does not exist yet: the rule it would be encrypted with.
        let f = dir.path().join("prod/new.yaml");
        let t = targets(&[f.display().to_string()], Some(&cfg), None).unwrap();
        assert_eq!(t.keys.len(), 1);
        assert!(t.keys[0].origins[0].contains("via the creation rule"), "{:?}", t.keys[0].origins);
        let t = targets(&["https://x.vault.azure.net/keys/k/v".into()], None, None).unwrap();
        assert_eq!(t.keys[0].version.as_deref(), Some("v"));
        assert!(targets(&["https://x.vault.azure.net/secrets/k".into()], None, None).is_err());
        let t = targets(&[f.display().to_string()], None, None).unwrap();
        assert!(t.keys.is_empty() && t.notes[0].contains("no .sops.yaml"), "{:?}", t.notes);
    }
}
