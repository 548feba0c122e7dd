//! The seed scenario end to end, the way Flux's kustomize-controller works (issue 4):
//! kvsops encrypts `envs/qa/patches/patch-secret.yaml` of the sample GitOps repository with an Azure
//! Key Vault key (through the emulator); then, as the controller does, the real sops decrypts the
//! patch in place and a real kustomize (`kubectl kustomize`) builds `envs/qa`. The built Secret
//! carries the plaintext values and every other resource is unchanged. Also the resource path: a
//! whole Secret manifest encrypted by kvsops, built by kustomize, then decrypted per resource as
//! JSON by sops.

use crate::common;

use std::path::Path;
use std::process::Command;

use common::*;
use kv_emulator::Emulator;
use kvsops::stores::{Format, StoreSettings};
use kvsops::tree::{Document, Node, Value};

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let dest = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &dest);
        } else {
            std::fs::copy(e.path(), &dest).unwrap();
        }
    }
}

fn with_emulator(mut c: Command, emu: &Emulator) -> Command {
    for (k, v) in emu.env() {
        c.env(k, v);
    }
    c
}

fn kustomize(dir: &Path) -> Vec<Document> {
    let mut c = Command::new("kubectl");
    c.arg("kustomize").arg(dir).arg("--load-restrictor").arg("LoadRestrictionsNone");
    let out = ok(c);
    Format::Yaml.store(&StoreSettings::default()).load_plain(&out).expect("kustomize output parses")
}

fn find<'a>(docs: &'a [Document], kind: &str, name: &str) -> &'a Document {
    docs.iter()
        .find(|d| {
            matches!(d.root.get("kind"), Some(Node::Scalar(s)) if s.value == Value::Str(kind.into()))
                && matches!(d.root.get("metadata"), Some(Node::Map(m)) if matches!(m.get("name"), Some(Node::Scalar(s)) if s.value == Value::Str(name.into())))
        })
        .unwrap_or_else(|| panic!("{kind}/{name} not in the build"))
}

fn string_data(doc: &Document, key: &str) -> String {
    let Some(Node::Map(sd)) = doc.root.get("stringData") else { panic!("no stringData") };
    match sd.get(key) {
        Some(Node::Scalar(s)) => match &s.value {
            Value::Str(v) => v.clone(),
            other => panic!("{key} is {other:?}"),
        },
        other => panic!("{key}: {other:?}"),
    }
}

#[test]
fn qa_overlay_builds_with_the_secret_decrypted_as_flux_does() {
    if !have("sops") || !have("kubectl") {
        return;
    }
    let emu = Emulator::start();
    let sb = Sandbox::new();
    let repo = sb.path().join("repo");
    copy_dir(&testdata("gitops"), &repo);
    let vault = "https://kvsops-demo.vault.azure.net/keys/sops-key";
    std::fs::write(
        repo.join(".sops.yaml"),
        format!("creation_rules:\n  - path_regex: envs/.*\n    azure_keyvault: {vault}\n    encrypted_regex: ^(data|stringData)$\n"),
    )
    .unwrap();
    let plain_build = kustomize(&repo.join("envs/qa"));

    // kvsops encrypts the patch through the emulator, as a user does before commit.
    let patch = repo.join("envs/qa/patches/patch-secret.yaml");
    let original = std::fs::read_to_string(&patch).unwrap();
    let mut c = with_emulator(sb.kvsops(), &emu);
    c.current_dir(&repo).args(["encrypt", "--in-place", "envs/qa/patches/patch-secret.yaml"]);
    ok(c);
    let enc = std::fs::read_to_string(&patch).unwrap();
    assert!(!enc.contains("Hello from QA") && !enc.contains("s3cr3t-qa-p@ss"), "{enc}");
    assert!(enc.contains("mac: ENC["), "the Flux YAML marker");
    assert!(enc.contains("vault_url: https://kvsops-demo.vault.azure.net"));
    let version = emu.key_versions("kvsops-demo.vault.azure.net", "sops-key");
    assert_eq!(version.len(), 1);
    assert!(enc.contains(&format!("version: {}", version[0])), "the resolved key version is recorded");
    // The comments and layout of the patch are kept.
    assert!(enc.starts_with("# The Secret's values for qa."));

    // kustomize-controller: sops decrypts the patch in place, then kustomize builds the overlay.
    let mut c = with_emulator(sb.sops(), &emu);
    c.current_dir(&repo).args(["decrypt", "--in-place", "envs/qa/patches/patch-secret.yaml"]);
    ok(c);
    let built = kustomize(&repo.join("envs/qa"));
    let secret = find(&built, "Secret", "aks-helloworld-one");
    assert_eq!(string_data(secret, "title"), "Hello from QA, kept secret by SOPS");
    assert_eq!(string_data(secret, "db-password"), "s3cr3t-qa-p@ss");
    // Every other resource is unchanged.
    assert_eq!(built.len(), plain_build.len());
    for (a, b) in built.iter().zip(&plain_build) {
        if a.root.get("kind") != Some(&Node::str("Secret")) {
            assert!(kvsops::tree::same_content(&Node::Map(a.root.clone()), &Node::Map(b.root.clone())));
        }
    }
    drop(original);
}

#[test]
fn encrypted_secret_resource_survives_kustomize_and_decrypts_as_json() {
    if !have("sops") || !have("kubectl") {
        return;
    }
    let emu = Emulator::start();
    let sb = Sandbox::new();
    let dir = sb.path().join("app");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("secret.yaml"),
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\ntype: Opaque\nstringData:\n  password: pw-from-kv # rotate monthly\n  user: app\n",
    )
    .unwrap();
    std::fs::write(dir.join("kustomization.yaml"), "resources:\n  - secret.yaml\n").unwrap();
    let mut c = with_emulator(sb.kvsops(), &emu);
    c.current_dir(&dir).args([
        "encrypt",
        "-i",
        "--encrypted-regex",
        "^(data|stringData)$",
        "--azure-kv",
        "https://team-vault.vault.azure.net/keys/flux",
        "secret.yaml",
    ]);
    ok(c);
    let built = kustomize(&dir);
    let resource = find(&built, "Secret", "db");
    // As the controller: MarshalJSON of the resource, then sops decrypts it as JSON (MAC unchecked).
    let json = Format::Json.store(&StoreSettings::default()).emit_plain(std::slice::from_ref(resource), None).unwrap();
    let f = sb.write("resource.json", &json);
    let mut c = with_emulator(sb.sops(), &emu);
    c.args(["decrypt", "--ignore-mac", "--input-type", "json", "--output-type", "json"]).arg(&f);
    let out = ok(c);
    let docs = Format::Json.store(&StoreSettings::default()).load_plain(&out).unwrap();
    assert_eq!(string_data(&docs[0], "password"), "pw-from-kv");
    assert_eq!(string_data(&docs[0], "user"), "app");
}
