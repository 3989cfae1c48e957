//! weft's mutating admission webhook: injects the sidecar into annotated pods.
