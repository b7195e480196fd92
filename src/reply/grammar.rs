//! nom parsers for complete reply lines (RFC 5321 §4.2). STUB.
