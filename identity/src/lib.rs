//! weft's mesh certificate authority: signs workload certificates for ServiceAccounts.
