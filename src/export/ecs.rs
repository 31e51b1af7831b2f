//! `--format ecs`: the ECS documents ([`crate::document::ecs`]) of the handshakes exported.

use std::io::Write;

use super::{ExportError, HandshakeWriter};
use crate::diagnose::Finding;
use crate::document::ecs::Ecs;
use crate::pipeline::Analysed;

impl HandshakeWriter for Ecs {
    fn handshake(&mut self, a: &Analysed, out: &mut dyn Write) -> Result<(), ExportError> {
        Ok(self.write_handshake(a, out)?)
    }

    fn inputs(&mut self, source: &crate::capture::MergedSource) {
        *self = Ecs::of(source);
    }

    fn connection_finding(&mut self, f: &Finding, out: &mut dyn Write) -> Result<(), ExportError> {
        Ok(self.write_connection_finding(f, out)?)
    }

    fn finish(&mut self, _out: &mut dyn Write) -> Result<(), ExportError> {
        Ok(())
    }
}
