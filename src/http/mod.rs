//! Stage 4: HTTP/1.x framing.
