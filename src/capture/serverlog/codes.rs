//! Names for the codes servers write down: `sc-win32-status` (a Win32 error or an SSPI
//! `SEC_E_*` HRESULT, [MS-ERREF] 2.1 and 2.2, winerror.h), the `Status`/`SubStatus` of
//! logon events (NTSTATUS, [MS-ERREF] 2.3, ntstatus.h), and the reason for refusing a logon
//! that each stands for. docs/server-logs.md has the table with its sources.

/// Why the server refused a logon, as far as its codes say.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Reason {
    BadPassword,
    UnknownUser,
    /// The logon type is not granted: "Access this computer from the network"
    /// (SeNetworkLogonRight) for NTLM/Kerberos, the LogonMethod's right for Basic.
    LogonTypeNotGranted,
    AccountLocked,
    AccountDisabled,
    PasswordExpired,
    AccountExpired,
    MustChangePassword,
    TimeRestriction,
    WorkstationRestriction,
    AccountRestriction,
    NoLogonServers,
    TimeSkew,
    BadBindings,
    InvalidToken,
    WrongPrincipal,
    /// The KDC and the client, or the service's key, share no encryption type.
    NoCommonEtype,
    AccessDenied,
    /// The normal challenge round (`401 2 5`, `401 1 2148074254`): not a failure.
    Challenge,
    Other,
}

impl Reason {
    /// The reason in words, for summaries.
    pub fn words(self) -> &'static str {
        match self {
            Reason::BadPassword => "wrong password",
            Reason::UnknownUser => "no such user",
            Reason::LogonTypeNotGranted => "logon type not granted",
            Reason::AccountLocked => "account locked out",
            Reason::AccountDisabled => "account disabled",
            Reason::PasswordExpired => "password expired",
            Reason::AccountExpired => "account expired",
            Reason::MustChangePassword => "password must be changed",
            Reason::TimeRestriction => "outside the account's logon hours",
            Reason::WorkstationRestriction => "not allowed from this workstation",
            Reason::AccountRestriction => "account restriction (such as a blank password)",
            Reason::NoLogonServers => "no domain controller reachable",
            Reason::TimeSkew => "clocks too far apart",
            Reason::BadBindings => "channel bindings refused (Extended Protection)",
            Reason::InvalidToken => {
                "token not valid here (legs split across connections or servers)"
            }
            Reason::WrongPrincipal => "ticket for another service principal",
            Reason::NoCommonEtype => "no encryption type in common",
            Reason::AccessDenied => "access denied by an ACL",
            Reason::Challenge => "challenge sent (normal)",
            Reason::Other => "other",
        }
    }

    /// What to do about it; `anonymous` when the refused logon is IIS's anonymous account's
    /// (the request carried no credential), `basic` for Basic authentication (IIS logs the
    /// user on with its `logonMethod`).
    pub fn next_step(self, anonymous: bool, basic: bool) -> &'static str {
        if anonymous {
            return match self {
                Reason::PasswordExpired | Reason::AccountExpired | Reason::MustChangePassword => {
                    "The anonymous account's password or account has expired: set a new password on the account anonymousAuthentication uses (IUSR_<computer> or the one configured) and in its userName/password, or use the application pool identity."
                }
                Reason::AccountLocked | Reason::AccountDisabled => {
                    "The anonymous account is locked out or disabled: unlock or enable the account anonymousAuthentication uses, or use the application pool identity."
                }
                Reason::LogonTypeNotGranted => {
                    "The anonymous account lacks the logon right IIS asks for: grant it (Local Security Policy > User Rights Assignment), or set anonymousAuthentication's logonMethod to one it has."
                }
                _ => "IIS could not log on its anonymous account: check the account anonymousAuthentication uses (password, lockout, logon rights).",
            };
        }
        match self {
            Reason::BadPassword => "The server checked the password and it is wrong: have the user type it again; check the domain (DOMAIN\\user or user@realm) and whether a stored credential is stale.",
            Reason::UnknownUser => "The account does not exist where the server looked: check the user name and domain (a local account versus a domain one, a UPN suffix).",
            Reason::LogonTypeNotGranted if basic => "The user lacks the logon right IIS's Basic logonMethod needs (ClearText/Network need 'Access this computer from the network', Interactive 'Allow log on locally', Batch 'Log on as a batch job'): grant it, or change basicAuthentication's logonMethod.",
            Reason::LogonTypeNotGranted => "The user lacks 'Access this computer from the network' (SeNetworkLogonRight) on the web server, or is in 'Deny access to this computer from the network': fix User Rights Assignment (Local Security Policy or a GPO).",
            Reason::AccountLocked => "The account is locked out: unlock it (Active Directory Users and Computers, Unlock-ADAccount), then find what keeps sending the old password (event 4740 on the PDC emulator names the caller).",
            Reason::AccountDisabled => "The account is disabled: enable it, or use another account.",
            Reason::PasswordExpired => "The password has expired: the user must set a new one (a web login cannot change it); check the domain's password policy.",
            Reason::AccountExpired => "The account has expired: extend its expiry date (accountExpires) in Active Directory.",
            Reason::MustChangePassword => "The account must change its password at next logon: have the user change it interactively, or clear 'User must change password at next logon'.",
            Reason::TimeRestriction => "The account may not log on at this time: check its logon hours in Active Directory.",
            Reason::WorkstationRestriction => "The account may log on only from some workstations: add this one to its 'Log On To' list, or log on from an allowed one.",
            Reason::AccountRestriction => "An account restriction refused the logon (often a blank password over the network): set a password, or review the account's restrictions.",
            Reason::NoLogonServers => "The web server could not reach a domain controller to check the credential: check its secure channel (Test-ComputerSecureChannel, nltest /sc_query) and DNS for the domain.",
            Reason::TimeSkew => "The clocks of the client, the server and the domain controller differ by more than allowed (5 minutes): fix time synchronisation (w32tm).",
            Reason::BadBindings => "The server requires channel bindings (Extended Protection) and the client's do not match this TLS channel: use a client that sends them, or remove the TLS-terminating device in between, or set extendedProtection tokenChecking to Allow with the proxy's SPN.",
            Reason::InvalidToken => "The server got a token it cannot continue: NTLM legs split across connections or load-balanced servers; keep the handshake on one connection to one server (sticky sessions, keep-alive).",
            Reason::WrongPrincipal => "The ticket was issued for another service principal: register HTTP/<host> on the account the site runs as (setspn -S), remove duplicates, or set useAppPoolCredentials.",
            Reason::NoCommonEtype => "The domain controller and the client (or the service account's keys) share no encryption type: compare the client's etypes with the account's msDS-SupportedEncryptionTypes and the domain's 'Network security: Configure encryption types allowed for Kerberos' policy; an account with only RC4 or DES keys needs its password set again after AES is enabled.",
            Reason::AccessDenied => "Authentication succeeded and the resource's ACL refused the user: grant read on the file or folder (and the default document) to the user, or to the anonymous account for anonymous requests.",
            Reason::Challenge => "Nothing to do: this is the challenge before the credential.",
            Reason::Other => "Look the code up in the server's logs and the Security event log of the web server and the domain controller.",
        }
    }
}

/// `sc-win32-status` values: (value, name, meaning, reason).
pub const WIN32: &[(u32, &str, &str, Reason)] = &[
    (0, "ERROR_SUCCESS", "the operation completed", Reason::Other),
    (
        5,
        "ERROR_ACCESS_DENIED",
        "access is denied",
        Reason::AccessDenied,
    ),
    (
        64,
        "ERROR_NETNAME_DELETED",
        "the client closed the connection",
        Reason::Other,
    ),
    (
        1311,
        "ERROR_NO_LOGON_SERVERS",
        "no logon servers available",
        Reason::NoLogonServers,
    ),
    (
        1317,
        "ERROR_NO_SUCH_USER",
        "the user does not exist",
        Reason::UnknownUser,
    ),
    (
        1326,
        "ERROR_LOGON_FAILURE",
        "unknown user name or bad password",
        Reason::BadPassword,
    ),
    (
        1327,
        "ERROR_ACCOUNT_RESTRICTION",
        "account restriction",
        Reason::AccountRestriction,
    ),
    (
        1328,
        "ERROR_INVALID_LOGON_HOURS",
        "outside the account's logon hours",
        Reason::TimeRestriction,
    ),
    (
        1329,
        "ERROR_INVALID_WORKSTATION",
        "not allowed from this workstation",
        Reason::WorkstationRestriction,
    ),
    (
        1330,
        "ERROR_PASSWORD_EXPIRED",
        "the password has expired",
        Reason::PasswordExpired,
    ),
    (
        1331,
        "ERROR_ACCOUNT_DISABLED",
        "the account is disabled",
        Reason::AccountDisabled,
    ),
    (
        1385,
        "ERROR_LOGON_TYPE_NOT_GRANTED",
        "the logon type requested is not granted",
        Reason::LogonTypeNotGranted,
    ),
    (
        1793,
        "ERROR_ACCOUNT_EXPIRED",
        "the account has expired",
        Reason::AccountExpired,
    ),
    (
        1907,
        "ERROR_PASSWORD_MUST_CHANGE",
        "the password must be changed",
        Reason::MustChangePassword,
    ),
    (
        1909,
        "ERROR_ACCOUNT_LOCKED_OUT",
        "the account is locked out",
        Reason::AccountLocked,
    ),
    (
        2148074248,
        "SEC_E_INVALID_TOKEN",
        "the token supplied is invalid",
        Reason::InvalidToken,
    ),
    (
        2148074252,
        "SEC_E_LOGON_DENIED",
        "the logon attempt failed",
        Reason::BadPassword,
    ),
    (
        2148074254,
        "SEC_E_NO_CREDENTIALS",
        "no credentials are available (the NTLM challenge round)",
        Reason::Challenge,
    ),
    (
        2148074257,
        "SEC_E_NO_AUTHENTICATING_AUTHORITY",
        "no authority could be contacted",
        Reason::NoLogonServers,
    ),
    (
        2148074274,
        "SEC_E_WRONG_PRINCIPAL",
        "the target principal name is incorrect",
        Reason::WrongPrincipal,
    ),
    (
        2148074276,
        "SEC_E_TIME_SKEW",
        "the clocks of the client and server differ too much",
        Reason::TimeSkew,
    ),
    (
        2148074310,
        "SEC_E_BAD_BINDINGS",
        "the channel bindings supplied are incorrect",
        Reason::BadBindings,
    ),
];

/// NTSTATUS values of 4625 and 4776 `Status`/`SubStatus`: (value, name, meaning, reason).
pub const NTSTATUS: &[(u32, &str, &str, Reason)] = &[
    (0x0000_0000, "STATUS_SUCCESS", "success", Reason::Other),
    (
        0xC000_005E,
        "STATUS_NO_LOGON_SERVERS",
        "no logon servers available",
        Reason::NoLogonServers,
    ),
    (
        0xC000_0064,
        "STATUS_NO_SUCH_USER",
        "the user does not exist",
        Reason::UnknownUser,
    ),
    (
        0xC000_006A,
        "STATUS_WRONG_PASSWORD",
        "the password is wrong",
        Reason::BadPassword,
    ),
    (
        0xC000_006D,
        "STATUS_LOGON_FAILURE",
        "unknown user name or bad password",
        Reason::BadPassword,
    ),
    (
        0xC000_006E,
        "STATUS_ACCOUNT_RESTRICTION",
        "account restriction",
        Reason::AccountRestriction,
    ),
    (
        0xC000_006F,
        "STATUS_INVALID_LOGON_HOURS",
        "outside the account's logon hours",
        Reason::TimeRestriction,
    ),
    (
        0xC000_0070,
        "STATUS_INVALID_WORKSTATION",
        "not allowed from this workstation",
        Reason::WorkstationRestriction,
    ),
    (
        0xC000_0071,
        "STATUS_PASSWORD_EXPIRED",
        "the password has expired",
        Reason::PasswordExpired,
    ),
    (
        0xC000_0072,
        "STATUS_ACCOUNT_DISABLED",
        "the account is disabled",
        Reason::AccountDisabled,
    ),
    (
        0xC000_0133,
        "STATUS_TIME_DIFFERENCE_AT_DC",
        "the clocks of this machine and the DC differ",
        Reason::TimeSkew,
    ),
    (
        0xC000_015B,
        "STATUS_LOGON_TYPE_NOT_GRANTED",
        "the logon type requested is not granted",
        Reason::LogonTypeNotGranted,
    ),
    (
        0xC000_0192,
        "STATUS_NETLOGON_NOT_STARTED",
        "the Netlogon service is not started",
        Reason::NoLogonServers,
    ),
    (
        0xC000_0193,
        "STATUS_ACCOUNT_EXPIRED",
        "the account has expired",
        Reason::AccountExpired,
    ),
    (
        0xC000_0224,
        "STATUS_PASSWORD_MUST_CHANGE",
        "the password must be changed",
        Reason::MustChangePassword,
    ),
    (
        0xC000_0234,
        "STATUS_ACCOUNT_LOCKED_OUT",
        "the account is locked out",
        Reason::AccountLocked,
    ),
    (
        0xC000_0413,
        "STATUS_AUTHENTICATION_FIREWALL_FAILED",
        "the machine is not allowed to authenticate (selective authentication)",
        Reason::AccountRestriction,
    ),
];

/// Kerberos result codes of 4768/4769/4771 `Status` (RFC 4120 7.5.9): (value, name, reason).
/// Kerberos result codes the events write (RFC 4120 7.5.9) with the reason each gives; the
/// names of every code come from the Kerberos decoder's table (`handshake::server`).
pub const KERBEROS: &[(u32, Reason)] = &[
    (0x6, Reason::UnknownUser),
    (0x7, Reason::WrongPrincipal),
    (0xE, Reason::NoCommonEtype),
    (0x12, Reason::AccountDisabled),
    (0x17, Reason::PasswordExpired),
    (0x18, Reason::BadPassword),
    (0x25, Reason::TimeSkew),
];

/// The name of an `sc-win32-status`, when known.
pub fn win32(v: u32) -> Option<&'static (u32, &'static str, &'static str, Reason)> {
    WIN32.iter().find(|(c, ..)| *c == v)
}

pub fn ntstatus(v: u32) -> Option<&'static (u32, &'static str, &'static str, Reason)> {
    NTSTATUS.iter().find(|(c, ..)| *c == v)
}

/// The reason a Kerberos result code gives, `Other` for a code with no reason here.
pub fn kerberos_reason(v: u32) -> Reason {
    KERBEROS
        .iter()
        .find(|(c, _)| *c == v)
        .map_or(Reason::Other, |k| k.1)
}

/// `1326 ERROR_LOGON_FAILURE`, or the number alone.
pub fn win32_text(v: u32) -> String {
    match win32(v) {
        Some((_, name, ..)) => format!("{v} {name}"),
        None => v.to_string(),
    }
}

/// `0xc000006a STATUS_WRONG_PASSWORD`, or the number alone.
pub fn ntstatus_text(v: u32) -> String {
    match ntstatus(v) {
        Some((_, name, ..)) => format!("{v:#010x} {name}"),
        None => format!("{v:#010x}"),
    }
}

/// The reason an IIS line gives: its win32 status, read with its status and substatus
/// (`401 2 5` is the anonymous challenge, `401 3 5` the ACL).
pub fn iis_reason(
    status: Option<u16>,
    substatus: Option<u32>,
    win32_status: Option<u32>,
) -> Option<Reason> {
    match (status, substatus, win32_status) {
        (Some(401), Some(2), _) => Some(Reason::Challenge),
        (Some(401), Some(3), _) => Some(Reason::AccessDenied),
        (_, _, Some(0)) | (_, _, None) => None,
        (_, _, Some(w)) => Some(win32(w).map_or(Reason::Other, |e| e.3)),
    }
}

/// The reason an event gives: its SubStatus when it says more than its Status (4625 writes
/// `0xc000006d` with the precise cause in SubStatus), Kerberos result codes for the KDC's.
pub fn event_reason(
    kerberos_event: bool,
    status: Option<u32>,
    substatus: Option<u32>,
) -> Option<Reason> {
    if kerberos_event {
        return status.filter(|s| *s != 0).map(kerberos_reason);
    }
    let of = |v: u32| ntstatus(v).map_or(Reason::Other, |e| e.3);
    match (status, substatus) {
        (_, Some(sub)) if sub != 0 => Some(of(sub)),
        (Some(s), _) if s != 0 => Some(of(s)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sspi_values_are_their_hresults() {
        for (v, name, ..) in WIN32 {
            let hex = match *name {
                "SEC_E_INVALID_TOKEN" => 0x8009_0308,
                "SEC_E_LOGON_DENIED" => 0x8009_030C,
                "SEC_E_NO_CREDENTIALS" => 0x8009_030E,
                "SEC_E_NO_AUTHENTICATING_AUTHORITY" => 0x8009_0311,
                "SEC_E_WRONG_PRINCIPAL" => 0x8009_0322,
                "SEC_E_TIME_SKEW" => 0x8009_0324,
                "SEC_E_BAD_BINDINGS" => 0x8009_0346,
                _ => continue,
            };
            assert_eq!(*v, hex, "{name}");
        }
    }

    #[test]
    fn reasons_of_lines_and_events() {
        assert_eq!(
            iis_reason(Some(401), Some(2), Some(5)),
            Some(Reason::Challenge)
        );
        assert_eq!(
            iis_reason(Some(401), Some(3), Some(5)),
            Some(Reason::AccessDenied)
        );
        assert_eq!(
            iis_reason(Some(401), Some(1), Some(1326)),
            Some(Reason::BadPassword)
        );
        assert_eq!(
            iis_reason(Some(401), Some(1), Some(2148074254)),
            Some(Reason::Challenge)
        );
        assert_eq!(iis_reason(Some(200), Some(0), Some(0)), None);
        assert_eq!(
            event_reason(false, Some(0xC000_006D), Some(0xC000_0234)),
            Some(Reason::AccountLocked)
        );
        assert_eq!(
            event_reason(false, Some(0xC000_0224), Some(0)),
            Some(Reason::MustChangePassword)
        );
        assert_eq!(
            event_reason(true, Some(0x18), None),
            Some(Reason::BadPassword)
        );
        assert_eq!(
            ntstatus_text(0xC000_006A),
            "0xc000006a STATUS_WRONG_PASSWORD"
        );
        assert_eq!(win32_text(1385), "1385 ERROR_LOGON_TYPE_NOT_GRANTED");
    }
}
