//! CPAR, the Central Patient Attachment Registry: the relying party that signs its users in through
//! AHS IAM with the `openidconnect` crate. The application itself arrives with its own issue; this
//! crate holds its place in the workspace so that the layout stays as designed.
