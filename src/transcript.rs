//! The redacted record of a session's dialogue. STUB.
