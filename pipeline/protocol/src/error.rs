//! Typed errors of the protocol core.

/// Errors of key handling and ciphertext parsing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProtocolError {
    /// A modulus below 2048 bits (or an unsupported size) was requested or found.
    #[error("Paillier modulus of {0} bits refused: at least 2048 bits, even, at most 8192")]
    WeakKey(u32),
    /// Bytes that are not a valid ciphertext for the key.
    #[error("invalid ciphertext: {0}")]
    InvalidCiphertext(String),
    /// A key store entry that cannot be read.
    #[error("unreadable key file: {0}")]
    BadKeyFile(String),
    /// A configuration value out of range.
    #[error("invalid protocol configuration: {0}")]
    BadConfig(String),
}
