//! weft's mesh certificate authority: signs short-lived workload
//! certificates for ServiceAccounts.
//!
//! - [`ca`]: the issuer (loaded from PEM, checked to be a CA that chains to
//!   a trust anchor) and the signing of a checked CSR.

pub mod ca;
