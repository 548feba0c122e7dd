//! The developer-tool credentials as azidentity runs them: the Azure CLI (`az account
//! get-access-token`) and Azure PowerShell (`pwsh` with `Get-AzAccessToken`).
//!
//! `azure_identity`'s own CLI credential cannot be used: it never passes `--tenant` (sops passes
//! the tenant of the vault's challenge, or `AZURE_TENANT_ID`) and refuses CLIs older than 2.54,
//! which print `expiresOn` (local time) but no `expires_on`. Like azidentity, the command line is
//! run through `/bin/sh -c` from `/bin` with the process environment (so `az`/`pwsh` is found on
//! `PATH`), with a ten-second limit; "not installed" (exit 127) and other failures are reported
//! with the tool's own message.

use std::fmt;
use std::time::Duration;

use azure_core::credentials::{AccessToken, TokenCredential, TokenRequestOptions};
use azure_core::error::ErrorKind;
use azure_core::time::OffsetDateTime;
use base64::Engine as _;

/// How long one `az`/`pwsh` run may take (azidentity's `cliTimeout`).
const CLI_TIMEOUT: Duration = Duration::from_secs(10);

/// Which tool.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tool {
    /// `az account get-access-token -o json --resource R [--tenant T]`.
    AzureCli,
    /// `pwsh -NoProfile -NonInteractive -OutputFormat Text -EncodedCommand <script>`.
    AzurePowerShell,
}

impl Tool {
    fn name(self) -> &'static str {
        match self {
            Tool::AzureCli => "AzureCLICredential",
            Tool::AzurePowerShell => "AzurePowerShellCredential",
        }
    }
}

/// A token from `az` or `pwsh`, for one tenant (or the tool's default one).
pub struct ToolCredential {
    tool: Tool,
    tenant: Option<String>,
}

impl fmt::Debug for ToolCredential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ToolCredential").field("tool", &self.tool).field("tenant", &self.tenant).finish()
    }
}

impl ToolCredential {
    /// `tenant`: passed to the tool (`--tenant` / `-TenantId`) when set.
    pub fn new(tool: Tool, tenant: Option<String>) -> Result<Self, String> {
        if let Some(t) = &tenant {
            if !valid_tenant(t) {
                return Err(format!("invalid tenant ID {t:?}: only letters, digits, '.' and '-' are allowed"));
            }
        }
        Ok(ToolCredential { tool, tenant })
    }

    /// The command line given to `/bin/sh -c` for `scope`.
    pub fn command_line(&self, scope: &str) -> Result<String, String> {
        if !valid_scope(scope) {
            return Err(format!("{}: invalid scope {scope:?}", self.tool.name()));
        }
        // The tools take a v1 resource, not a v2 scope.
        let resource = scope.strip_suffix("/.default").unwrap_or(scope);
        Ok(match self.tool {
            Tool::AzureCli => {
                let mut c = format!("az account get-access-token -o json --resource {resource}");
                if let Some(t) = &self.tenant {
                    c.push_str(" --tenant ");
                    c.push_str(t);
                }
                c
            }
            Tool::AzurePowerShell => {
                let script = powershell_script(resource, self.tenant.as_deref().unwrap_or(""));
                format!(
                    "pwsh -NoProfile -NonInteractive -OutputFormat Text -EncodedCommand {}",
                    utf16le_base64(&script)
                )
            }
        })
    }

    async fn run(&self, scope: &str) -> Result<Vec<u8>, String> {
        let line = self.command_line(scope)?;
        let mut cmd = tokio::process::Command::new("/bin/sh");
        cmd.arg("-c").arg(&line).current_dir("/bin").kill_on_drop(true);
        cmd.stdin(std::process::Stdio::null());
        let out = match tokio::time::timeout(CLI_TIMEOUT, cmd.output()).await {
            Ok(Ok(out)) => out,
            Ok(Err(e)) => return Err(format!("could not run /bin/sh: {e}")),
            Err(_) => return Err(format!("{} did not answer within {} s", self.program(), CLI_TIMEOUT.as_secs())),
        };
        if out.status.success() {
            return Ok(out.stdout);
        }
        let stderr = String::from_utf8_lossy(&out.stderr);
        if out.status.code() == Some(127) {
            return Err(match self.tool {
                Tool::AzureCli => "Azure CLI not found on path".into(),
                Tool::AzurePowerShell => "PowerShell (pwsh) not found on path".into(),
            });
        }
        let mut msg = super::credential::one_line(&stderr);
        if self.tool == Tool::AzurePowerShell {
            if msg.contains("Connect-AzAccount") {
                msg = "Please run \"Connect-AzAccount\" to set up an account".into();
            } else if msg.contains("Az.Accounts") && msg.contains("not found") {
                msg = "Az.Accounts module not found".into();
            }
        }
        if msg.is_empty() {
            msg = format!("{} exited with {}", self.program(), out.status);
        }
        Err(msg)
    }

    fn program(&self) -> &'static str {
        match self.tool {
            Tool::AzureCli => "az",
            Tool::AzurePowerShell => "pwsh",
        }
    }
}

#[async_trait::async_trait]
impl TokenCredential for ToolCredential {
    async fn get_token(&self, scopes: &[&str], _: Option<TokenRequestOptions<'_>>) -> azure_core::Result<AccessToken> {
        let fail = |m: String| azure_core::Error::with_message(ErrorKind::Credential, m);
        let [scope] = scopes else {
            return Err(fail(format!("{}: exactly one scope is needed", self.tool.name())));
        };
        let out = self.run(scope).await.map_err(fail)?;
        let parsed = match self.tool {
            Tool::AzureCli => parse_cli_token(&out),
            Tool::AzurePowerShell => parse_powershell_token(&out),
        };
        parsed.map_err(|e| fail(format!("{}: {e}", self.tool.name())))
    }
}

/// `az account get-access-token` output: `accessToken` and `expires_on` (Unix seconds, CLI 2.54+),
/// else `expiresOn` (`2006-01-02 15:04:05.999999` in local time, every CLI version).
pub fn parse_cli_token(out: &[u8]) -> Result<AccessToken, String> {
    let v: serde_json::Value =
        serde_json::from_slice(out).map_err(|e| format!("the Azure CLI printed no token JSON ({e})"))?;
    let token = v
        .get("accessToken")
        .and_then(|t| t.as_str())
        .filter(|t| !t.is_empty())
        .ok_or("no accessToken in the Azure CLI output")?;
    let unix = match v.get("expires_on") {
        Some(serde_json::Value::Number(n)) => n.as_i64(),
        Some(serde_json::Value::String(s)) => s.trim().parse::<i64>().ok(),
        _ => None,
    }
    .filter(|&n| n != 0);
    let expires = match unix {
        Some(n) => OffsetDateTime::from_unix_timestamp(n).map_err(|_| format!("invalid expires_on {n}"))?,
        None => {
            let s = v
                .get("expiresOn")
                .and_then(|t| t.as_str())
                .ok_or("no expires_on or expiresOn in the Azure CLI output")?;
            parse_expires_on(s).ok_or_else(|| format!("cannot read the token expiry {s:?}"))?
        }
    };
    Ok(AccessToken::new(token.to_string(), expires))
}

/// `expiresOn`: local time `YYYY-MM-DD HH:MM:SS[.ffffff]`, or RFC 3339 (Cloud Shell).
pub fn parse_expires_on(s: &str) -> Option<OffsetDateTime> {
    let s = s.trim();
    if let Ok(t) = OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339) {
        return Some(t);
    }
    let (date, clock) = s.split_once(' ')?;
    let mut d = date.split('-').map(|p| p.parse::<i32>().ok());
    let (year, month, day) = (d.next()??, d.next()??, d.next()??);
    let clock = clock.split('.').next()?;
    let mut c = clock.split(':').map(|p| p.parse::<i32>().ok());
    let (hour, min, sec) = (c.next()??, c.next()??, c.next()??);
    local_to_unix(year, month, day, hour, min, sec).and_then(|n| OffsetDateTime::from_unix_timestamp(n).ok())
}

/// Local wall-clock time to Unix seconds, with the system's time zone rules (`mktime`).
#[allow(unsafe_code)]
fn local_to_unix(year: i32, month: i32, day: i32, hour: i32, min: i32, sec: i32) -> Option<i64> {
    if !(1..=12).contains(&month)
        || !(1..=31).contains(&day)
        || !(0..=23).contains(&hour)
        || !(0..=59).contains(&min)
        || !(0..=60).contains(&sec)
    {
        return None;
    }
    // SAFETY: `tm` is a plain C struct; zeroed is a valid value and mktime only reads and
    // normalises it.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    tm.tm_year = year - 1900;
    tm.tm_mon = month - 1;
    tm.tm_mday = day;
    tm.tm_hour = hour;
    tm.tm_min = min;
    tm.tm_sec = sec;
    tm.tm_isdst = -1;
    // SAFETY: `tm` is a valid, exclusively borrowed struct for the duration of the call.
    let t = unsafe { libc::mktime(&mut tm) };
    (t != -1).then_some(t)
}

/// The script's output: `{"Token": "...", "ExpiresOn": <Unix seconds>}`.
pub fn parse_powershell_token(out: &[u8]) -> Result<AccessToken, String> {
    let v: serde_json::Value =
        serde_json::from_slice(out).map_err(|e| format!("Azure PowerShell printed no token JSON ({e})"))?;
    let token = v
        .get("Token")
        .and_then(|t| t.as_str())
        .filter(|t| !t.is_empty())
        .ok_or("no Token in the Azure PowerShell output")?;
    let n = v.get("ExpiresOn").and_then(|t| t.as_i64()).ok_or("no ExpiresOn in the Azure PowerShell output")?;
    let expires = OffsetDateTime::from_unix_timestamp(n).map_err(|_| format!("invalid ExpiresOn {n}"))?;
    Ok(AccessToken::new(token.to_string(), expires))
}

/// The PowerShell script azidentity runs: Az.Accounts 2.2.0 or newer, `Get-AzAccessToken` for the
/// resource (and tenant), the token made plain text whatever Az.Accounts returns, as JSON.
fn powershell_script(resource: &str, tenant: &str) -> String {
    format!(
        r#"
$ErrorActionPreference = 'Stop'
[version]$minimumVersion = '2.2.0'

$mod = Import-Module Az.Accounts -MinimumVersion $minimumVersion -PassThru -ErrorAction SilentlyContinue

if (!$mod) {{
    Write-Error 'Az.Accounts PowerShell module not found'
}}

$params = @{{
    ResourceUrl   = '{resource}'
    WarningAction = 'Ignore'
}}

if ($mod.Version -ge [version]'2.17.0' -and $mod.Version -lt [version]'5.0.0') {{
    $params['AsSecureString'] = $true
}}

$tenantId = '{tenant}'
if ($tenantId.Length -gt 0) {{
    $params['TenantId'] = '{tenant}'
}}

$token = Get-AzAccessToken @params

$customToken = New-Object -TypeName psobject

if ($token.Token -is [System.Security.SecureString]) {{
    $ssPtr = [System.Runtime.InteropServices.Marshal]::SecureStringToBSTR($token.Token)
    try {{
        $plainToken = [System.Runtime.InteropServices.Marshal]::PtrToStringBSTR($ssPtr)
    }} finally {{
        [System.Runtime.InteropServices.Marshal]::ZeroFreeBSTR($ssPtr)
    }}
    $customToken | Add-Member -MemberType NoteProperty -Name Token -Value $plainToken
}} else {{
    $customToken | Add-Member -MemberType NoteProperty -Name Token -Value $token.Token
}}
$customToken | Add-Member -MemberType NoteProperty -Name ExpiresOn -Value $token.ExpiresOn.ToUnixTimeSeconds()

$jsonToken = $customToken | ConvertTo-Json
return $jsonToken
"#
    )
}

/// `-EncodedCommand` takes base64 of UTF-16LE.
fn utf16le_base64(s: &str) -> String {
    let bytes: Vec<u8> = s.encode_utf16().flat_map(u16::to_le_bytes).collect();
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// Scopes go on a shell command line: only these characters (azidentity's `validScope`).
fn valid_scope(scope: &str) -> bool {
    !scope.is_empty() && scope.chars().all(|c| c.is_ascii_alphanumeric() || ".-_/:".contains(c))
}

/// Tenant IDs go on a shell command line too (azidentity's `validTenantID`).
pub fn valid_tenant(t: &str) -> bool {
    !t.is_empty() && t.chars().all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn az_command_lines() {
        let c = ToolCredential::new(Tool::AzureCli, None).unwrap();
        assert_eq!(
            c.command_line("https://vault.azure.net/.default").unwrap(),
            "az account get-access-token -o json --resource https://vault.azure.net"
        );
        let c = ToolCredential::new(Tool::AzureCli, Some("t-1".into())).unwrap();
        assert!(c.command_line("https://vault.azure.net/.default").unwrap().ends_with(" --tenant t-1"));
        assert!(c.command_line("https://x/.default; rm -rf /").is_err());
        assert!(ToolCredential::new(Tool::AzureCli, Some("a b".into())).is_err());
    }

    #[test]
    fn pwsh_command_line_carries_the_script() {
        let c = ToolCredential::new(Tool::AzurePowerShell, Some("t-2".into())).unwrap();
        let line = c.command_line("https://vault.azure.net/.default").unwrap();
        let b64 = line.strip_prefix("pwsh -NoProfile -NonInteractive -OutputFormat Text -EncodedCommand ").unwrap();
        let bytes = base64::engine::general_purpose::STANDARD.decode(b64).unwrap();
        let units: Vec<u16> = bytes.chunks(2).map(|p| u16::from_le_bytes([p[0], p[1]])).collect();
        let script = String::from_utf16(&units).unwrap();
        assert!(script.contains("ResourceUrl   = 'https://vault.azure.net'"), "{script}");
        assert!(script.contains("$params['TenantId'] = 't-2'"), "{script}");
    }

    #[test]
    fn cli_tokens_new_and_old() {
        let t =
            parse_cli_token(br#"{"accessToken":"a","expiresOn":"2030-01-02 03:04:05.000000","expires_on":1893553445}"#)
                .unwrap();
        assert_eq!(t.expires_on.unix_timestamp(), 1893553445);
        // Before CLI 2.54: expiresOn only, in local time.
        let t =
            parse_cli_token(br#"{"accessToken":"a","expiresOn":"2030-01-02 03:04:05.123456","tokenType":"Bearer"}"#)
                .unwrap();
        let want = local_to_unix(2030, 1, 2, 3, 4, 5).unwrap();
        assert_eq!(t.expires_on.unix_timestamp(), want);
        assert!(parse_cli_token(br#"{"accessToken":"a"}"#).unwrap_err().contains("expiresOn"));
        assert!(parse_cli_token(br#"{"accessToken":"a","expiresOn":"soon"}"#).is_err());
        assert!(parse_cli_token(b"ERROR").is_err());
    }

    #[test]
    fn powershell_tokens() {
        let t = parse_powershell_token(br#"{ "Token": "p", "ExpiresOn": 1893553445 }"#).unwrap();
        assert_eq!(t.token.secret(), "p");
        assert_eq!(t.expires_on.unix_timestamp(), 1893553445);
        assert!(parse_powershell_token(br#"{"Token":""}"#).is_err());
    }
}
