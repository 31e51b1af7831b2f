//! One leg of a handshake: an HTTP exchange with its authentication headers decoded, and what
//! it means for the handshake (which step of which scheme).

use crate::auth::kerberos::KerberosMessage;
use crate::auth::ntlm::NtlmMessage;
use crate::auth::spnego::NegState;
use crate::auth::{decode_headers, AuthHeader, HeaderKind, Token};
use crate::capture::Timestamp;
use crate::http::{headers_named, Exchange, Request, Response};
use crate::tcp::ConnId;
use std::sync::Arc;

/// The request half of a leg.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct LegRequest {
    /// The frame Wireshark shows the request on (the segment that completes it).
    pub frame: u64,
    /// The frame of its first byte, when it is not `frame`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_frame: Option<u64>,
    pub ts: Timestamp,
    pub method: compact_str::CompactString,
    pub uri: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    /// The `Connection` header, when sent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub connection: Option<String>,
    /// `Authorization` (or `Proxy-Authorization` on a proxy leg), decoded. Shared with the
    /// exchange's output, so the report does not decode it again.
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "super::serial::shared"
    )]
    pub credential: Option<Arc<AuthHeader>>,
}

/// The response half of a leg.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct LegResponse {
    /// The frame Wireshark shows the response on (the segment that completes it).
    pub frame: u64,
    /// The frame of its first byte, when it is not `frame`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_frame: Option<u64>,
    pub ts: Timestamp,
    pub status: u16,
    pub reason: compact_str::CompactString,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub connection: Option<String>,
    /// `WWW-Authenticate` (or `Proxy-Authenticate`), every field in order, decoded.
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "super::serial::shared"
    )]
    pub challenges: Option<Arc<AuthHeader>>,
    /// An IIS substatus (`401.1`) named in the error page body, never guessed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iis_substatus: Option<String>,
    /// The error page says a request header was too long (http.sys, Apache, nginx).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub header_too_long: bool,
    pub body_len: u64,
    /// Its `Date` header (RFC 9110 6.6.1), in seconds since 1970, when it parses.
    #[serde(skip)]
    pub date: Option<i64>,
    /// It came from a cache (an `Age` header, RFC 9111 5.1): its `Date` is when the origin
    /// made it, not now.
    #[serde(skip)]
    pub cached: bool,
}

/// What the client sent, reduced to what the handshake logic needs.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Credential {
    /// No credentials: the anonymous probe.
    None,
    Basic {
        user: String,
    },
    Digest {
        user: String,
    },
    Bearer,
    /// NTLM Type 1, under `NTLM` or `Negotiate`.
    NtlmNegotiate {
        negotiate: bool,
    },
    /// NTLM Type 3.
    NtlmAuthenticate {
        negotiate: bool,
        user: String,
        domain: String,
        workstation: String,
        /// LM, NTLMv1, NTLMv1-ESS, NTLMv2, anonymous.
        response: String,
        /// The service the client meant to log on to: MsvAvTargetName of its NTLMv2 blob
        /// (MS-NLMP 2.2.2.1), an SPN such as `HTTP/intranet.corp.example`.
        #[serde(skip_serializing_if = "Option::is_none")]
        target: Option<String>,
        /// The MsvAvTimestamp echoed in an NTLMv2 blob (MS-NLMP 3.1.5.2.1).
        #[serde(skip)]
        echo_timestamp: Option<u64>,
        /// MsvAvChannelBindings of its NTLMv2 blob (MS-NLMP 2.2.2.1), hex; the leg's
        /// [`Leg::binding`] judges it.
        #[serde(skip)]
        bindings: Option<String>,
    },
    /// A Kerberos AP-REQ (SPNEGO-wrapped or bare).
    KerberosApReq {
        spn: String,
        realm: String,
    },
    /// A Negotiate token of another kind (an NTLM Type 2 sent the wrong way, an unknown mech).
    NegotiateOther,
    Other {
        scheme: String,
    },
    /// A token that did not decode.
    Malformed {
        scheme: String,
    },
}

impl Credential {
    /// A credential that completes a handshake: the server must now accept or refuse it.
    pub fn is_complete(&self) -> bool {
        matches!(
            self,
            Credential::Basic { .. }
                | Credential::Digest { .. }
                | Credential::Bearer
                | Credential::NtlmAuthenticate { .. }
                | Credential::KerberosApReq { .. }
        )
    }
}

/// What the server answered, reduced likewise.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Answer {
    /// No response was seen.
    Missing,
    /// 401/407 with challenges to start with: the schemes offered, in order.
    Offer { schemes: Vec<String> },
    /// 401/407 with no challenge header at all.
    NoChallenge,
    /// 401/407 carrying an NTLM Type 2.
    NtlmChallenge {
        server_challenge: String,
        target: Option<String>,
        #[serde(skip)]
        timestamp: Option<u64>,
    },
    /// 401/407 with a Digest challenge saying `stale=true`.
    DigestStale,
    /// 401/407 carrying a Kerberos KRB-ERROR (in a Negotiate token).
    KerberosError { code: String },
    /// 401/407 with a Negotiate reject.
    NegotiateReject,
    /// Any other 401/407.
    Refused,
    /// A 2xx/3xx: accepted (possibly with a final token: AP-REP, NegTokenResp).
    Accepted { mutual: bool },
    /// The request failed: a 4xx/5xx other than 401/407 (403, 405, 500 ...), or a 401/407
    /// that carries the server's final authentication token (a Kerberos AP-REP, SPNEGO
    /// accept-completed), which says the login itself worked. `mutual` as for `Accepted`.
    RequestFailed { status: u16, mutual: bool },
}

impl Answer {
    /// The server took the credential of this leg: any final answer but a 401/407, or a
    /// 401/407 that completed the authentication (RFC 9110 11.6.1: only a 401/407 refuses).
    pub fn accepts(&self) -> bool {
        matches!(self, Answer::Accepted { .. } | Answer::RequestFailed { .. })
    }
}

/// Whether an NTLM Type 3 sent inside TLS is bound to the certificate the server presented
/// on its connection (Extended Protection for Authentication; MS-NLMP 3.1.5.1.2).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "verdict", rename_all = "snake_case")]
pub enum Binding {
    /// MsvAvChannelBindings is the binding of this connection's certificate.
    Bound,
    /// No MsvAvChannelBindings (or no NTLMv2 blob to carry it).
    NotBound,
    /// All zero: the client had no channel to bind to, or would not.
    Zero,
    /// Another value: the client bound to another certificate (TLS ended in between).
    Mismatch { sent: String, expected: String },
    /// The connection's certificate was not read (the handshake not captured).
    Unknown { sent: String },
}

impl Binding {
    /// ` (CBT bound)`, as leg summaries and timelines write it after the credential.
    pub fn note(&self) -> String {
        format!(" (CBT {})", self.short())
    }

    /// One word, as leg summaries write it after `CBT`.
    pub fn short(&self) -> &'static str {
        match self {
            Binding::Bound => "bound",
            Binding::NotBound => "none",
            Binding::Zero => "zero",
            Binding::Mismatch { .. } => "mismatch",
            Binding::Unknown { .. } => "unchecked",
        }
    }

    pub fn label(&self) -> &'static str {
        match self {
            Binding::Bound => "bound",
            Binding::NotBound => "not bound",
            Binding::Zero => "zero bindings",
            Binding::Mismatch { .. } => "bindings mismatch",
            Binding::Unknown { .. } => "bindings unchecked",
        }
    }
}

/// The binding verdict of a Type 3 sent inside TLS.
fn binding_of(x: &Exchange, cred: &Credential) -> Option<Binding> {
    let Credential::NtlmAuthenticate { bindings, .. } = cred else {
        return None;
    };
    if !x.tls {
        return None;
    }
    let Some(sent) = bindings else {
        return Some(Binding::NotBound);
    };
    if sent.bytes().all(|b| b == b'0') {
        return Some(Binding::Zero);
    }
    Some(match x.channel_binding {
        None => Binding::Unknown { sent: sent.clone() },
        Some(want) => {
            let expected = crate::tls::hex(&want);
            if expected.eq_ignore_ascii_case(sent) {
                Binding::Bound
            } else {
                Binding::Mismatch {
                    sent: sent.clone(),
                    expected,
                }
            }
        }
    })
}

/// One leg: an exchange of a handshake.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Leg {
    pub conn: ConnId,
    /// Proxy authentication (`407`, `Proxy-Authorization`).
    pub proxy: bool,
    /// Sent inside TLS ([`crate::http::Exchange::tls`]).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub tls: bool,
    /// An NTLM Type 3 sent inside TLS: whether it is bound to this connection's certificate.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub binding: Option<Binding>,
    /// `1.0`, `1.1` or `2`.
    pub http: HttpVersion,
    /// The HTTP/2 stream, and how it was cut when it was (RST_STREAM, GOAWAY).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub h2: Option<Box<crate::http::H2Stream>>,
    pub request: Option<LegRequest>,
    pub response: Option<LegResponse>,
    pub credential: Credential,
    pub answer: Answer,
    /// The attempt of its handshake this leg belongs to, from 1 (the client starts a new
    /// round after a refusal or a cut connection); 0 until the leg joins a handshake.
    pub round: u32,
    /// One line for timelines: `GET /app NTLM Type 1 -> 401 NTLM Type 2 challenge ...`.
    pub summary: String,
    /// What the server's records say of this leg (`--server-log`, `--events`); a record is
    /// joined to one leg at most.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub server: Vec<super::server::ServerNote>,
    /// Where in `summary` the credential's and the challenges' own summaries are, for the
    /// timeline, which shows them again (they cost more to make than to keep).
    #[serde(skip)]
    parts: SummaryParts,
}

/// Byte ranges of [`Leg::summary`].
#[derive(Debug, Clone, Copy, Default, PartialEq)]
struct SummaryParts {
    credential: Option<(usize, usize)>,
    challenges: Option<(usize, usize)>,
}

impl Leg {
    /// About how many bytes it holds (its texts and what its headers decoded), for the cap
    /// on what open handshakes keep.
    pub fn approx_bytes(&self) -> usize {
        let auth = |h: &Option<Arc<AuthHeader>>| h.as_ref().map_or(0, |h| h.approx_bytes());
        let opt = |s: &Option<String>| s.as_ref().map_or(0, String::len);
        let request = self.request.as_ref().map_or(0, |r| {
            r.uri
                .len()
                .saturating_add(r.method.len())
                .saturating_add(opt(&r.host))
                .saturating_add(opt(&r.connection))
                .saturating_add(auth(&r.credential))
        });
        let response = self.response.as_ref().map_or(0, |r| {
            r.reason
                .len()
                .saturating_add(opt(&r.connection))
                .saturating_add(opt(&r.iis_substatus))
                .saturating_add(auth(&r.challenges))
        });
        std::mem::size_of::<Leg>()
            .saturating_add(self.summary.len())
            .saturating_add(request)
            .saturating_add(response)
    }

    /// ` HTTP/2` when the leg was not HTTP/1.1 (see [`version_note`]), then its channel
    /// binding verdict (` (CBT bound)`) when it has one: what follows the request target.
    pub fn request_notes(&self) -> String {
        let mut s = version_note(self.http).to_owned();
        if let Some(b) = &self.binding {
            s.push_str(&b.note());
        }
        s
    }

    /// The summary of the request's credential, as [`Leg::summary`] shows it.
    pub fn credential_summary(&self) -> Option<&str> {
        let (a, b) = self.parts.credential?;
        self.summary.get(a..b)
    }

    /// The summary of the response's challenges (when it has some), as [`Leg::summary`]
    /// shows it.
    pub fn challenges_summary(&self) -> Option<&str> {
        let (a, b) = self.parts.challenges?;
        self.summary.get(a..b)
    }

    pub fn ts(&self) -> Timestamp {
        self.request
            .as_ref()
            .map(|r| r.ts)
            .or(self.response.as_ref().map(|r| r.ts))
            .unwrap_or_default()
    }

    pub fn status(&self) -> Option<u16> {
        self.response.as_ref().map(|r| r.status)
    }

    /// Time from the request to its response.
    pub fn latency_ns(&self) -> Option<i64> {
        Some(self.response.as_ref()?.ts.since(self.request.as_ref()?.ts))
    }

    /// The server turned the request away for the size of its header before checking the
    /// credential in it: 431 (RFC 6585 5), or 400/413 with an error page that says so or a
    /// token past the size most servers accept in one field (Apache's 8190-byte
    /// `LimitRequestFieldSize`; http.sys's `MaxFieldLength` is larger).
    pub fn token_too_large(&self) -> bool {
        const LARGE: usize = 8000;
        let Some(r) = &self.response else {
            return false;
        };
        let Some(cred) = self.request.as_ref().and_then(|q| q.credential.as_ref()) else {
            return false;
        };
        match r.status {
            431 => true,
            400 | 413 => {
                r.header_too_long || credential_len(cred) >= LARGE || self.httperr_too_long()
            }
            _ => false,
        }
    }

    /// http.sys wrote down that it refused this request for a header or request too long
    /// (HTTPERR `FieldLength`, `RequestLength`).
    pub fn httperr_too_long(&self) -> bool {
        self.server.iter().any(|n| {
            n.iis()
                .and_then(|l| l.reason.as_deref())
                .is_some_and(|r| r == "FieldLength" || r == "RequestLength")
        })
    }

    /// The response asked to close the connection.
    pub fn closes(&self) -> bool {
        self.response
            .as_ref()
            .and_then(|r| r.connection.as_deref())
            .is_some_and(|c| c.split(',').any(|t| t.trim().eq_ignore_ascii_case("close")))
    }
}

/// Is this exchange part of an authentication? `None` when it is not.
/// The auth headers of an exchange that its leg decoded (the credential and the final
/// response's challenges), shared so that the report does not decode them a second time.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SharedAuth {
    pub credential: Option<Arc<AuthHeader>>,
    pub challenges: Option<Arc<AuthHeader>>,
}

impl SharedAuth {
    /// The decoded header of this kind, if the leg decoded it.
    pub fn get(&self, kind: HeaderKind) -> Option<&Arc<AuthHeader>> {
        [&self.credential, &self.challenges]
            .into_iter()
            .flatten()
            .find(|h| h.kind == kind)
    }
}

impl Leg {
    pub fn shared_auth(&self) -> SharedAuth {
        SharedAuth {
            credential: self.request.as_ref().and_then(|r| r.credential.clone()),
            challenges: self.response.as_ref().and_then(|r| r.challenges.clone()),
        }
    }
}

pub fn leg_of(x: &Exchange) -> Option<Leg> {
    leg_with(x, &mut |headers, kind| {
        decode_named(headers, kind).map(Arc::new)
    })
}

/// [`leg_of`], with each distinct auth header value decoded once (see `DecodeCache`) and,
/// with `forget_secrets`, its secret values dropped before it is shared: the leg reads the
/// same, and holds no credential.
pub fn leg_of_shared(x: &Exchange, forget_secrets: bool) -> Option<Leg> {
    leg_with(x, &mut |headers, kind| {
        decode_shared(headers, kind, forget_secrets)
    })
}

type Decode<'a> = dyn FnMut(&[crate::http::Header], HeaderKind) -> Option<Arc<AuthHeader>> + 'a;

fn leg_with(x: &Exchange, decode: &mut Decode<'_>) -> Option<Leg> {
    let req = x.request.as_ref();
    let resp = x.response.as_ref();
    let status = resp.map(|r| r.status);
    let proxy_cred = req.is_some_and(|r| r.header("proxy-authorization").is_some());
    let origin_cred = req.is_some_and(|r| r.header("authorization").is_some());
    // RFC 9110 11.7: a 407 and Proxy-Authorization are the proxy's; the rest is the origin's.
    let proxy = status == Some(407) || (proxy_cred && !origin_cred);
    let (cred_kind, chal_kind) = if proxy {
        (
            HeaderKind::ProxyAuthorization,
            HeaderKind::ProxyAuthenticate,
        )
    } else {
        (HeaderKind::Authorization, HeaderKind::WwwAuthenticate)
    };
    let credential = req.and_then(|r| decode(&r.headers, cred_kind));
    let challenges = resp.and_then(|r| decode(&r.headers, chal_kind));
    let relevant = credential.is_some()
        || matches!(status, Some(401 | 407))
        || challenges.as_ref().is_some_and(|c| !c.items.is_empty());
    if !relevant {
        return None;
    }
    let cred = credential
        .as_deref()
        .map_or(Credential::None, credential_of);
    let answer = match resp {
        None => Answer::Missing,
        Some(r) => answer_of(r.status, challenges.as_deref()),
    };
    let request = req.map(|r| leg_request(r, credential));
    let response = resp.map(|r| leg_response(r, challenges));
    let binding = binding_of(x, &cred);
    let version = req.map(|r| r.version).or(resp.map(|r| r.version));
    let http = match version {
        Some(0) => HttpVersion::Http10,
        Some(crate::http::HTTP2) => HttpVersion::Http2,
        _ if x.h2.is_some() => HttpVersion::Http2,
        _ => HttpVersion::Http11,
    };
    let (summary, parts) = summarise(
        request.as_ref(),
        response.as_ref(),
        Extras {
            http,
            binding: binding.as_ref(),
            h2_end: x.h2.as_ref().and_then(|h| h.end),
        },
    );
    Some(Leg {
        conn: x.conn,
        proxy,
        tls: x.tls,
        binding,
        http,
        h2: x.h2.clone(),
        request,
        response,
        credential: cred,
        answer,
        round: 0,
        summary,
        server: Vec::new(),
        parts,
    })
}

/// The values of every field of `kind`, in order; `None` when there is none.
fn values_named(headers: &[crate::http::Header], kind: HeaderKind) -> Option<Vec<&[u8]>> {
    let values: Vec<&[u8]> = headers_named(headers, kind.name())
        .map(str::as_bytes)
        .collect();
    (!values.is_empty()).then_some(values)
}

/// Every field of `kind` decoded together; `None` when there is none.
pub fn decode_named(headers: &[crate::http::Header], kind: HeaderKind) -> Option<AuthHeader> {
    Some(decode_headers(kind, &values_named(headers, kind)?))
}

/// Auth header values seen lately, decoded, by a 128-bit keyed hash of the values (two
/// seeds): the same values come again and again (every server's first 401 offers the same
/// schemes, a client's NTLM Type 1 and Basic credentials repeat, a Bearer token is sent on
/// every request), and decoding a token costs thousands of instructions. Shared headers are
/// also serialised once by the JSON report (see [`super::serial`]). The key is a hash and
/// not the text, so that no credential is kept here. One per thread (decoding runs on
/// either of the analyzer's threads); [`DECODE_SLOTS`] headers at most, the newest by slot.
struct DecodeCache {
    seeds: (
        foldhash::quality::RandomState,
        foldhash::quality::RandomState,
    ),
    slots: Vec<Option<Decoded>>,
}

struct Decoded {
    key: (u64, u64),
    header: Arc<AuthHeader>,
}

const DECODE_SLOTS: usize = 256;

thread_local! {
    static DECODED: std::cell::RefCell<DecodeCache> = std::cell::RefCell::new(DecodeCache {
        seeds: Default::default(),
        slots: Vec::new(),
    });
}

fn decode_shared(
    headers: &[crate::http::Header],
    kind: HeaderKind,
    forget_secrets: bool,
) -> Option<Arc<AuthHeader>> {
    use std::hash::BuildHasher as _;
    let values = values_named(headers, kind)?;
    let what = (kind, forget_secrets, &values);
    let (key, slot, known) = DECODED.with_borrow(|c| {
        let key = (c.seeds.0.hash_one(what), c.seeds.1.hash_one(what));
        let slot = (key.0 as usize) % DECODE_SLOTS;
        let d = c.slots.get(slot).and_then(Option::as_ref);
        let known = d.filter(|d| d.key == key).map(|d| Arc::clone(&d.header));
        (key, slot, known)
    });
    if known.is_some() {
        return known;
    }
    let mut header = decode_headers(kind, &values);
    if forget_secrets {
        crate::auth::RevealSecrets::forget_secrets(&mut header);
    }
    let header = Arc::new(header);
    DECODED.with_borrow_mut(|c| {
        if c.slots.is_empty() {
            c.slots.resize_with(DECODE_SLOTS, || None);
        }
        if let Some(s) = c.slots.get_mut(slot) {
            *s = Some(Decoded {
                key,
                header: Arc::clone(&header),
            });
        }
    });
    Some(header)
}

fn header_value(headers: &[crate::http::Header], name: &str) -> Option<String> {
    crate::http::header(headers, name).map(str::to_owned)
}

fn leg_request(r: &Request, credential: Option<Arc<AuthHeader>>) -> LegRequest {
    LegRequest {
        frame: r.frame,
        first_frame: r.first_frame,
        ts: r.ts,
        method: r.method.clone(),
        uri: r.uri.clone(),
        // RFC 9113 8.3.1: HTTP/2 names the host in `:authority`.
        host: header_value(&r.headers, "host").or_else(|| header_value(&r.headers, ":authority")),
        connection: header_value(&r.headers, "connection")
            .or_else(|| header_value(&r.headers, "proxy-connection")),
        credential,
    }
}

fn leg_response(r: &Response, challenges: Option<Arc<AuthHeader>>) -> LegResponse {
    LegResponse {
        frame: r.frame,
        first_frame: r.first_frame,
        ts: r.ts,
        status: r.status,
        reason: r.reason.clone(),
        connection: header_value(&r.headers, "connection")
            .or_else(|| header_value(&r.headers, "proxy-connection")),
        challenges,
        iis_substatus: r.body_prefix.as_deref().and_then(iis_substatus),
        header_too_long: r.status >= 400
            && r.status != 401
            && r.status != 407
            && r.body_prefix.as_deref().is_some_and(names_header_too_long),
        body_len: r.body_len,
        date: header_value(&r.headers, "date")
            .and_then(|d| httpdate::parse_http_date(d.trim()).ok())
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .and_then(|d| i64::try_from(d.as_secs()).ok()),
        cached: header_value(&r.headers, "age").is_some(),
    }
}

/// The IIS substatus named in an error page ("HTTP Error 401.2 - Unauthorized",
/// "Error 401.3"): IIS never puts it in the status line, so the body is the only place it can
/// be read (WINDOWS-AUTH-FACTS.md); without it, none is reported.
pub fn iis_substatus(body: &[u8]) -> Option<String> {
    // On the bytes: every 401 body passes here, and most are not the IIS page.
    static ERROR_40: std::sync::LazyLock<memchr::memmem::Finder<'static>> =
        std::sync::LazyLock::new(|| memchr::memmem::Finder::new(b"Error 40"));
    let mut rest = body;
    while let Some(at) = ERROR_40.find(rest) {
        let after = rest.get(at.saturating_add(6)..).unwrap_or_default();
        let len = after
            .iter()
            .take_while(|c| c.is_ascii_digit() || **c == b'.')
            .count();
        let code = std::str::from_utf8(after.get(..len).unwrap_or_default()).unwrap_or_default();
        let code = code.trim_end_matches('.');
        if let Some((status, sub)) = code.split_once('.') {
            if status.len() == 3 && !sub.is_empty() && sub.len() <= 3 {
                return Some(code.to_owned());
            }
        }
        rest = after;
    }
    None
}

/// Error pages of the servers that refuse an oversized header before any authentication:
/// http.sys ("Request Header Too Long", "Header Field Too Long"), Apache ("Size of a request
/// header field exceeds server limit"), nginx ("Request Header Or Cookie Too Large").
fn names_header_too_long(body: &[u8]) -> bool {
    const PHRASES: [&[u8]; 4] = [
        b"header too long",
        b"header field too long",
        b"header field exceeds",
        b"header or cookie too large",
    ];
    let lower = body.to_ascii_lowercase();
    PHRASES
        .iter()
        .any(|p| memchr::memmem::find(&lower, p).is_some())
}

/// The length of the credential's token as sent (a token68, or all its params), for the
/// size limits servers put on one header field.
pub fn credential_len(h: &AuthHeader) -> usize {
    h.items
        .iter()
        .map(|i| {
            i.token68.as_ref().map_or(0, |t| t.len()).saturating_add(
                i.params
                    .iter()
                    .map(|p| match &p.value {
                        crate::auth::ParamValue::Plain(v) => v.len(),
                        crate::auth::ParamValue::Secret(v) => v.len(),
                    })
                    .sum(),
            )
        })
        .sum()
}

fn credential_of(h: &AuthHeader) -> Credential {
    let Some(item) = h.items.first() else {
        return Credential::Malformed {
            scheme: String::new(),
        };
    };
    match &item.token {
        Token::Basic(b) => Credential::Basic {
            user: b.user.clone(),
        },
        Token::DigestResponse(d) => Credential::Digest {
            user: d
                .username
                .clone()
                .or(d.username_ext.clone())
                .unwrap_or_default(),
        },
        Token::Bearer(_) => Credential::Bearer,
        Token::Ntlm(m) => ntlm_credential(m, false),
        Token::Negotiate(n) => {
            if let Some(m) = n.ntlm() {
                return ntlm_credential(m, true);
            }
            match n.kerberos().map(|k| &k.message) {
                Some(KerberosMessage::ApReq(ap)) => Credential::KerberosApReq {
                    spn: ap.spn.clone(),
                    realm: ap.realm.clone(),
                },
                _ => Credential::NegotiateOther,
            }
        }
        Token::Malformed(_) => Credential::Malformed {
            scheme: item.scheme_raw.clone(),
        },
        Token::Bare | Token::Unknown => Credential::Other {
            scheme: item.scheme_raw.clone(),
        },
        Token::BasicChallenge(_) | Token::DigestChallenge(_) | Token::BearerChallenge(_) => {
            Credential::Other {
                scheme: item.scheme_raw.clone(),
            }
        }
    }
}

fn ntlm_credential(m: &NtlmMessage, negotiate: bool) -> Credential {
    match m {
        NtlmMessage::Negotiate(_) => Credential::NtlmNegotiate { negotiate },
        NtlmMessage::Authenticate(a) => {
            let blob = match &a.nt_response {
                crate::auth::ntlm::NtResponse::V2 {
                    blob: Some(blob), ..
                } => Some(blob),
                _ => None,
            };
            let echo_timestamp = blob.and_then(|b| b.av_pairs.timestamp());
            let target = blob
                .and_then(|b| b.av_pairs.text(crate::auth::ntlm::MsvAvId::TargetName))
                .filter(|t| !t.is_empty())
                .map(str::to_owned);
            Credential::NtlmAuthenticate {
                negotiate,
                user: a.user.clone(),
                domain: a.domain.clone(),
                workstation: a.workstation.clone(),
                response: a.kind.label().to_owned(),
                target,
                echo_timestamp,
                bindings: blob.and_then(|b| {
                    match b.av_pairs.get(crate::auth::ntlm::MsvAvId::ChannelBindings) {
                        Some(crate::auth::ntlm::AvValue::ChannelBindings { hash, .. }) => {
                            Some(hash.clone())
                        }
                        _ => None,
                    }
                }),
            }
        }
        NtlmMessage::Challenge(_) => Credential::NegotiateOther,
    }
}

fn answer_of(status: u16, challenges: Option<&AuthHeader>) -> Answer {
    let items = challenges.map(|c| c.items.as_slice()).unwrap_or_default();
    match status {
        401 | 407 => {
            if items.is_empty() {
                return Answer::NoChallenge;
            }
            // Authenticated, then refused by authorization (a `Require user` that does not
            // name this user): the final token says the credential itself was good.
            if items.iter().any(|i| completes(&i.token)) {
                return Answer::RequestFailed {
                    status,
                    mutual: true,
                };
            }
            if let Some(a) = items.iter().find_map(|i| special_answer(&i.token)) {
                return a;
            }
            // An NTLM token that does not decode, in a 401/407, can only be the challenge
            // (MS-NLMP 3.1.5.1.1: the server answers a Type 1 with a Type 2): keep the
            // handshake's logic going with its fields unknown.
            if items.iter().any(|i| {
                matches!(i.token, Token::Malformed(_)) && i.scheme_raw.eq_ignore_ascii_case("ntlm")
            }) {
                return Answer::NtlmChallenge {
                    server_challenge: String::new(),
                    target: None,
                    timestamp: None,
                };
            }
            let offers_only = items.iter().all(|i| {
                matches!(
                    i.token,
                    Token::Bare
                        | Token::BasicChallenge(_)
                        | Token::DigestChallenge(_)
                        | Token::BearerChallenge(_)
                        | Token::Unknown
                )
            });
            if offers_only {
                Answer::Offer {
                    schemes: items.iter().map(|i| i.scheme_raw.clone()).collect(),
                }
            } else {
                Answer::Refused
            }
        }
        200..=399 => Answer::Accepted {
            mutual: items.iter().any(|i| completes(&i.token)),
        },
        s => Answer::RequestFailed {
            status: s,
            mutual: items.iter().any(|i| completes(&i.token)),
        },
    }
}

/// A server token that ends the authentication with success: a Kerberos AP-REP (RFC 4120
/// 3.2.4), or a SPNEGO NegTokenResp with negState accept-completed (RFC 4178 4.2.2).
fn completes(t: &Token) -> bool {
    let Token::Negotiate(n) = t else {
        return false;
    };
    if n.kerberos()
        .is_some_and(|k| matches!(k.message, KerberosMessage::ApRep(_)))
    {
        return true;
    }
    matches!(
        &**n,
        crate::auth::spnego::NegotiateToken::Spnego {
            token: crate::auth::spnego::NegotiationToken::Resp(r),
            ..
        } if r.neg_state == Some(NegState::AcceptCompleted)
    )
}

/// A challenge token that decides the answer's kind, if this one is such.
fn special_answer(t: &Token) -> Option<Answer> {
    let ntlm = match t {
        Token::Ntlm(m) => Some(&**m),
        Token::Negotiate(n) => n.ntlm(),
        _ => None,
    };
    if let Some(NtlmMessage::Challenge(c)) = ntlm {
        return Some(Answer::NtlmChallenge {
            server_challenge: c.server_challenge.clone(),
            target: c.target_name.clone(),
            timestamp: c.target_info.as_ref().and_then(|ti| ti.timestamp()),
        });
    }
    match t {
        Token::DigestChallenge(d) if d.stale => Some(Answer::DigestStale),
        Token::Negotiate(n) => {
            if let Some(k) = n.kerberos() {
                if let KerberosMessage::KrbError(e) = &k.message {
                    return Some(Answer::KerberosError {
                        code: e.error_code.to_string(),
                    });
                }
            }
            if let crate::auth::spnego::NegotiateToken::Spnego {
                token: crate::auth::spnego::NegotiationToken::Resp(r),
                ..
            } = &**n
            {
                if r.neg_state == Some(NegState::Reject) {
                    return Some(Answer::NegotiateReject);
                }
            }
            None
        }
        _ => None,
    }
}

/// Whether a JWT in the credential had expired when the request was sent (RFC 7519 4.1.4):
/// the most common reason a bearer token is refused.
fn jwt_expiry(h: &AuthHeader, at: Timestamp) -> Option<String> {
    let exp = h.items.iter().find_map(|i| match &i.token {
        Token::Bearer(b) => b.jwt.as_ref().and_then(|j| j.exp),
        _ => None,
    })?;
    let now = at.0.div_euclid(1_000_000_000);
    let late = now.checked_sub(exp)?;
    (late > 0).then(|| {
        format!(
            "expired {} before the request",
            crate::auth::util::span(late)
        )
    })
}

/// The HTTP version of a leg (one byte: legs are many).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum HttpVersion {
    #[serde(rename = "1.0")]
    Http10,
    #[serde(rename = "1.1")]
    Http11,
    #[serde(rename = "2")]
    Http2,
}

/// ` HTTP/2` or ` HTTP/1.0` after a request target; nothing for HTTP/1.1, the usual.
pub fn version_note(http: HttpVersion) -> &'static str {
    match http {
        HttpVersion::Http2 => " HTTP/2",
        HttpVersion::Http10 => " HTTP/1.0",
        HttpVersion::Http11 => "",
    }
}

/// What a summary says beside the request and the response: the HTTP version when it is not
/// 1.1, the channel binding of a Type 3 inside TLS, how an HTTP/2 stream was cut.
#[derive(Clone, Copy)]
struct Extras<'a> {
    http: HttpVersion,
    binding: Option<&'a Binding>,
    h2_end: Option<crate::http::H2End>,
}

fn summarise(
    req: Option<&LegRequest>,
    resp: Option<&LegResponse>,
    extras: Extras<'_>,
) -> (String, SummaryParts) {
    let mut s = String::new();
    let mut parts = SummaryParts::default();
    let bracketed = |s: &mut String, text: &str| {
        s.push_str(" [");
        let at = s.len();
        s.push_str(text);
        let end = s.len();
        s.push(']');
        (at, end)
    };
    if let Some(r) = req {
        s.push_str(&r.method);
        s.push(' ');
        s.push_str(&r.uri);
        s.push_str(version_note(extras.http));
        match r.credential.as_ref() {
            Some(c) => {
                let mut text = c.summary();
                if let Some(note) = jwt_expiry(c, r.ts) {
                    text.push_str(", ");
                    text.push_str(&note);
                }
                parts.credential = Some(bracketed(&mut s, &text));
            }
            None => s.push_str(" (anonymous)"),
        }
        if let Some(b) = extras.binding {
            s.push_str(&b.note());
        }
    } else {
        s.push_str("(request not captured)");
    }
    s.push_str(" -> ");
    match resp {
        Some(r) => {
            s.push_str(itoa::Buffer::new().format(r.status));
            if let Some(sub) = &r.iis_substatus {
                s.push_str(" (IIS ");
                s.push_str(sub);
                s.push(')');
            }
            if let Some(c) = r.challenges.as_ref() {
                if !c.items.is_empty() {
                    parts.challenges = Some(bracketed(&mut s, &c.summary()));
                }
            }
        }
        None => match extras.h2_end {
            Some(e) => s.push_str(&e.describe()),
            None => s.push_str("no response"),
        },
    }
    (s, parts)
}
