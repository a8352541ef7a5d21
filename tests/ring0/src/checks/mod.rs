//! The checks the image runs at CPL 0, section by section.
//!
//! A section is a module with a `pub const CHECKS: &[Check]`; [`SECTIONS`] lists them in the
//! order they run. Each check prints why it failed (through [`ensure!`]) and returns
//! [`Failed`]; the runner prints one result line per check, in the format
//! `crate::protocol` fixes for `tests/ring0.rs`.

use crate::protocol::{CHECK_FAILED, CHECK_OK, CHECK_PREFIX};

/// A check failed; it has already printed why.
#[derive(Debug)]
pub struct Failed;

/// One named check.
pub struct Check {
    /// Its name in the report: `check <name> ... ok`.
    pub name: &'static str,
    /// Runs it.
    pub run: fn() -> Result<(), Failed>,
}

/// Fails the enclosing check, printing the message, unless `condition` holds.
macro_rules! ensure {
    ($condition:expr, $($message:tt)+) => {
        if !$condition {
            $crate::println!("    {}", format_args!($($message)+));
            return Err($crate::checks::Failed);
        }
    };
}

pub mod bench;
pub mod foreign;
pub mod thunks;
pub mod xstate;

/// Every section, in the order it runs.
const SECTIONS: &[&[Check]] = &[
    thunks::CHECKS,
    foreign::CHECKS,
    xstate::CHECKS,
    bench::CHECKS,
];

/// How a run went.
pub struct Summary {
    /// Checks that passed.
    pub passed: usize,
    /// Checks that failed.
    pub failed: usize,
}

/// Runs every check of every section, printing one result line each.
pub fn run_all() -> Summary {
    let mut summary = Summary {
        passed: 0,
        failed: 0,
    };
    for check in SECTIONS.iter().flat_map(|section| section.iter()) {
        // Names the check a fault that ends the run interrupted.
        crate::println!("ring0: running {}", check.name);
        match (check.run)() {
            Ok(()) => {
                crate::println!("{CHECK_PREFIX}{}{CHECK_OK}", check.name);
                summary.passed += 1;
            }
            Err(Failed) => {
                crate::println!("{CHECK_PREFIX}{}{CHECK_FAILED}", check.name);
                summary.failed += 1;
            }
        }
    }
    summary
}
