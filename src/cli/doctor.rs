//! `kvsops doctor [FILE | KEY-URL]...`: prints the checks of [`crate::keys::azure::doctor`], one
//! line each (`ok`, `FAIL` or `skip`, what was checked, and under a failure its fix). Exit code 0
//! only when every check passed; 1 when one failed or there was nothing to check.

use super::{at, Failure};
use crate::keys::azure::doctor::{Report, Status};
use crate::keys::azure::AzureSource;

/// `kvsops doctor`.
pub(super) fn run(global: &super::args::GlobalArgs, args: &[String]) -> std::result::Result<i32, Failure> {
    let cfg = super::load_config(global).map_err(at(None))?;
    let env_urls = std::env::var("SOPS_AZURE_KEYVAULT_URLS").ok();
    let targets = crate::ops::doctor::targets(args, cfg.as_ref(), env_urls.as_deref()).map_err(at(None))?;
    for note in &targets.notes {
        crate::outln!("note: {note}");
    }
    if targets.keys.is_empty() {
        crate::errln!(
            "kvsops: doctor: no Azure Key Vault key to check (give files or key URLs; see kvsops doctor --help)"
        );
        return Ok(crate::error::exit::GENERIC);
    }
    let report = AzureSource::from_env().doctor(&targets.keys);
    crate::out!("{}", render(&report));
    Ok(if report.passed() { 0 } else { crate::error::exit::GENERIC })
}

/// The report as text: a title per section, a line per check, its fix below a failure.
fn render(report: &Report) -> String {
    let mut out = String::new();
    for s in &report.sections {
        out.push_str(&s.title);
        out.push('\n');
        for c in &s.checks {
            let status = match c.status {
                Status::Ok => "ok",
                Status::Fail => "FAIL",
                Status::Skip => "skip",
            };
            out.push_str(&format!("  {status:<5} {:<10} {}\n", c.name, c.detail));
            if let Some(fix) = &c.fix {
                out.push_str(&format!("        fix: {fix}\n"));
            }
        }
    }
    let (ok, failed, skipped) = report.counts();
    let verdict = if report.passed() { "all checks passed" } else { "some checks failed" };
    out.push_str(&format!("{verdict}: {ok} ok, {failed} failed, {skipped} not checked\n"));
    out
}
