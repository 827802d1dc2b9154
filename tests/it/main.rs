//! labrunner's one integration-test binary: the CLI end to end, against the local sandbox
//! where AWS is needed.

mod sandbox_smoke;
mod support;
mod verify;
