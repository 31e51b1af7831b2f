//! `--format zeek`: the `ntlm.log` and `kerberos.log` records ([`crate::document::zeek`]) of
//! the handshakes exported, and of the KDC exchanges joined to them.

use std::io::Write;

use super::{ExportError, HandshakeWriter};
use crate::document::zeek::Zeek;
use crate::pipeline::Analysed;

impl HandshakeWriter for Zeek {
    fn handshake(&mut self, a: &Analysed, out: &mut dyn Write) -> Result<(), ExportError> {
        self.write_joined(a, out)?;
        Ok(self.write_handshake(a, out)?)
    }

    fn finish(&mut self, out: &mut dyn Write) -> Result<(), ExportError> {
        Ok(Zeek::finish(self, out)?)
    }
}
