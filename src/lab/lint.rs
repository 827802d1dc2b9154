//! Lint: findings about a lab that loads (see `commands/lint.rs` for the command).
