//! Test support: the crate's fake clock and AWS mocks, and a verifier over them, so fetch
//! paths and the polling loop run in milliseconds.

use std::sync::Arc;

use super::{Verifier, VerifySettings};
pub(crate) use crate::aws::mock::Mocks;
pub(crate) use crate::clock::FakeClock;

impl Mocks {
    /// A verifier over the mocks on a fake clock.
    pub fn verifier(&self, clock: Arc<FakeClock>, settings: VerifySettings) -> Verifier {
        Verifier::new(Arc::new(self.clients()), settings).with_clock(clock)
    }
}
