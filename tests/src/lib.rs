//! LocalInstance (being built).
