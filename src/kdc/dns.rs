//! DNS messages (RFC 1035 4.1) read with simple-dns: the questions and the answers a client
//! used to find the server and its KDC (A, AAAA, CNAME, SRV; other types by number).

use serde::Serialize;
use simple_dns::rdata::RData;
use simple_dns::{Packet, PacketFlag};

/// Questions and answers kept of one message; the rest are counted.
pub const MAX_RECORDS: usize = 32;

/// One DNS query or response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DnsMessage {
    pub id: u16,
    pub response: bool,
    /// RFC 1035 4.1.1 RCODE (RFC 6895 2.3 names).
    pub rcode: u16,
    pub questions: Vec<DnsQuestion>,
    pub answers: Vec<DnsAnswer>,
    /// Questions and answers past [`MAX_RECORDS`], not kept.
    #[serde(skip_serializing_if = "is_zero")]
    pub records_dropped: usize,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DnsQuestion {
    pub name: String,
    /// RFC 1035 3.2.2 TYPE (or QTYPE) number.
    pub qtype: u16,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DnsAnswer {
    pub name: String,
    pub rtype: u16,
    pub ttl: u32,
    /// The address (A, AAAA), the name (CNAME, PTR, NS), `priority weight port target` (SRV),
    /// empty for other types.
    pub data: String,
}

impl DnsMessage {
    /// The CNAME answers, alias to canonical name.
    pub fn cnames(&self) -> impl Iterator<Item = (&str, &str)> {
        self.answers
            .iter()
            .filter(|a| a.rtype == 5)
            .map(|a| (a.name.as_str(), a.data.as_str()))
    }
}

/// The name of a record type (IANA DNS parameters), `TYPE<n>` for the others (RFC 3597 5).
pub fn type_name(t: u16) -> String {
    let known = match t {
        1 => "A",
        2 => "NS",
        5 => "CNAME",
        6 => "SOA",
        12 => "PTR",
        15 => "MX",
        16 => "TXT",
        28 => "AAAA",
        33 => "SRV",
        41 => "OPT",
        65 => "HTTPS",
        255 => "ANY",
        _ => return format!("TYPE{t}"),
    };
    known.to_owned()
}

/// RFC 6895 2.3 names of the RCODEs a response carries in its header.
pub fn rcode_name(r: u16) -> &'static str {
    match r {
        0 => "NOERROR",
        1 => "FORMERR",
        2 => "SERVFAIL",
        3 => "NXDOMAIN",
        4 => "NOTIMP",
        5 => "REFUSED",
        _ => "RCODE",
    }
}

/// A name as tshark writes it: the root (no labels) as `<Root>`.
fn name(n: &simple_dns::Name<'_>) -> String {
    let s = n.to_string();
    if s.is_empty() {
        "<Root>".to_owned()
    } else {
        s
    }
}

fn rdata_text(r: &RData<'_>) -> String {
    match r {
        RData::A(a) => std::net::Ipv4Addr::from(a.address).to_string(),
        RData::AAAA(a) => std::net::Ipv6Addr::from(a.address).to_string(),
        RData::CNAME(n) => n.0.to_string(),
        RData::PTR(n) => n.0.to_string(),
        RData::NS(n) => n.0.to_string(),
        RData::SRV(s) => format!("{} {} {} {}", s.priority, s.weight, s.port, s.target),
        _ => String::new(),
    }
}

/// Decodes one DNS message (RFC 1035 4.1); the error says why it does not.
/// The entry point for fuzzing.
pub fn decode(bytes: &[u8]) -> Result<DnsMessage, String> {
    let p = Packet::parse(bytes).map_err(|e| format!("DNS message does not decode: {e}"))?;
    let mut dropped = 0usize;
    let questions = p
        .questions
        .iter()
        .enumerate()
        .filter_map(|(i, q)| {
            if i >= MAX_RECORDS {
                dropped = dropped.saturating_add(1);
                return None;
            }
            Some(DnsQuestion {
                name: name(&q.qname),
                qtype: u16::from(q.qtype),
            })
        })
        .collect();
    let answers = p
        .answers
        .iter()
        .enumerate()
        .filter_map(|(i, a)| {
            if i >= MAX_RECORDS {
                dropped = dropped.saturating_add(1);
                return None;
            }
            Some(DnsAnswer {
                name: name(&a.name),
                rtype: u16::from(a.rdata.type_code()),
                ttl: a.ttl,
                data: rdata_text(&a.rdata),
            })
        })
        .collect();
    // The 4-bit RCODE of the header (RFC 1035 4.1.1); an OPT record's extension is not read.
    let rcode = bytes
        .get(3)
        .map(|b| u16::from(b & 0x0F))
        .unwrap_or_default();
    Ok(DnsMessage {
        id: p.id(),
        response: p.has_flags(PacketFlag::RESPONSE),
        rcode,
        questions,
        answers,
        records_dropped: dropped,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cname_chain_is_read() {
        let mut p = Packet::new_reply(0x1234);
        p.questions.push(simple_dns::Question::new(
            simple_dns::Name::new_unchecked("www.lab.test"),
            simple_dns::TYPE::A.into(),
            simple_dns::CLASS::IN.into(),
            false,
        ));
        p.answers.push(simple_dns::ResourceRecord::new(
            simple_dns::Name::new_unchecked("www.lab.test"),
            simple_dns::CLASS::IN,
            60,
            RData::CNAME(simple_dns::rdata::CNAME(simple_dns::Name::new_unchecked(
                "web.lab.test",
            ))),
        ));
        p.answers.push(simple_dns::ResourceRecord::new(
            simple_dns::Name::new_unchecked("web.lab.test"),
            simple_dns::CLASS::IN,
            60,
            RData::A(simple_dns::rdata::A {
                address: 0x7f00_0011,
            }),
        ));
        let bytes = p.build_bytes_vec().unwrap();
        let m = decode(&bytes).unwrap();
        assert!(m.response);
        assert_eq!(m.id, 0x1234);
        assert_eq!(m.questions[0].name, "www.lab.test");
        assert_eq!(
            m.cnames().collect::<Vec<_>>(),
            [("www.lab.test", "web.lab.test")]
        );
        assert_eq!(m.answers[1].data, "127.0.0.17");
        assert_eq!(type_name(m.answers[1].rtype), "A");
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        for bytes in [&[][..], &[0; 5], &[0xff; 40]] {
            let _ = decode(bytes);
        }
    }
}
