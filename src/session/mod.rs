//! The session state machine. STUB.
