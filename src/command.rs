//! SMTP commands built from validated types. STUB.
