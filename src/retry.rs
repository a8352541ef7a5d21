//! Bounded retry loops for the statuses where calling again is the right response.
//!
//! Each helper takes the call as a closure returning its [`Status`], calls it at least
//! once, and returns the last status: the final success, the first status that is not
//! worth retrying, or the last retryable status once the bound is reached. No allocation,
//! `no_std`; a wrapper builds its registers inside the closure so every attempt starts from
//! the same inputs.
//!
//! | status | helper | bound |
//! |---|---|---|
//! | `TDX_RND_NO_ENTROPY` | [`retry_no_entropy`] | [`RND_NO_ENTROPY_ATTEMPTS`] = 10 calls in total, as Linux's `sc_retry` (`RDRAND_RETRY_LOOPS`) |
//! | `TDX_OPERAND_BUSY`, `TDX_OPERAND_BUSY_HOST_PRIORITY`, `TDX_SYS_BUSY` | [`retry_busy`] | the caller's, [`BUSY_ATTEMPTS`] suggested |
//! | `TDX_INTERRUPTED_RESUMABLE` | [`resume_interrupted`] | [`RESUME_LIMIT`] = 10 000 calls, as KVM's `TDX_SEAMCALL_RETRIES` |
//!
//! Linux wraps every SEAMCALL except TDH.VP.ENTER in the entropy retry. Busy statuses mean
//! another logical processor (or the TD) holds a lock the call needs; the module spec says
//! the call may be retried. A busy status that only clears after the caller acts (e.g.
//! `TDX_PREVIOUS_TLB_EPOCH_BUSY`, which needs vCPUs kicked out of the TD) is not retried
//! here. `TDX_INTERRUPTED_RESTARTABLE` is not retried either: the caller decides whether to
//! restart.

use crate::status::{Status, StatusCode};

/// Calls in total for [`retry_no_entropy`]: Linux's `RDRAND_RETRY_LOOPS`.
pub const RND_NO_ENTROPY_ATTEMPTS: u32 = 10;

/// A suggested bound for [`retry_busy`]: enough to ride out another processor's short
/// critical section, small enough that a lock held across a long operation comes back to
/// the caller as `TDX_OPERAND_BUSY` in well under a millisecond of SEAMCALLs. Our choice;
/// neither the module nor Linux fixes one.
pub const BUSY_ATTEMPTS: u32 = 1_000;

/// Calls in total for [`resume_interrupted`]: KVM's `TDX_SEAMCALL_RETRIES` for
/// TDH.PHYMEM.CACHE.WB. Every resume makes progress, so reaching it means the loop is
/// stuck (interrupted on every attempt), not slow.
pub const RESUME_LIMIT: u32 = 10_000;

/// Calls `call` until `should_retry` says no or `max_attempts` calls have been made (at
/// least one call is always made), and returns the last status.
#[inline]
pub fn retry_while(
    max_attempts: u32,
    mut should_retry: impl FnMut(Status) -> bool,
    mut call: impl FnMut() -> Status,
) -> Status {
    let mut status = call();
    let mut attempts = 1;
    while attempts < max_attempts && should_retry(status) {
        status = call();
        attempts += 1;
    }
    status
}

/// Retries while the call returns `TDX_RND_NO_ENTROPY`, up to
/// [`RND_NO_ENTROPY_ATTEMPTS`] calls in total, as Linux does for every SEAMCALL.
#[inline]
pub fn retry_no_entropy(call: impl FnMut() -> Status) -> Status {
    retry_while(
        RND_NO_ENTROPY_ATTEMPTS,
        |status| status.is(StatusCode::RndNoEntropy),
        call,
    )
}

/// Whether `status` is contention that retrying can clear: `TDX_OPERAND_BUSY` (any
/// operand), `TDX_OPERAND_BUSY_HOST_PRIORITY` or `TDX_SYS_BUSY`.
#[inline]
pub const fn is_busy(status: Status) -> bool {
    status.is(StatusCode::OperandBusy)
        || status.is(StatusCode::OperandBusyHostPriority)
        || status.is(StatusCode::SysBusy)
}

/// Retries while [`is_busy`], up to `max_attempts` calls in total ([`BUSY_ATTEMPTS`] is a
/// reasonable choice). The entropy retry, if wanted, goes inside `call`.
#[inline]
pub fn retry_busy(max_attempts: u32, call: impl FnMut() -> Status) -> Status {
    retry_while(max_attempts, is_busy, call)
}

/// Which call of a resumable operation this is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Pass {
    /// The first call: start the operation.
    Start,
    /// A later call after `TDX_INTERRUPTED_RESUMABLE`: continue it (e.g. RCX = 1 for
    /// TDH.PHYMEM.CACHE.WB, R10 bit 63 for TDH.EXPORT.MEM; leaves without a resume flag just
    /// repeat the call).
    Resume,
}

/// Runs a resumable operation to the end: calls `call(Pass::Start)`, then
/// `call(Pass::Resume)` while the status is `TDX_INTERRUPTED_RESUMABLE`, up to
/// [`RESUME_LIMIT`] calls in total, and returns the last status (still
/// `TDX_INTERRUPTED_RESUMABLE` if the limit was reached).
#[inline]
pub fn resume_interrupted(call: impl FnMut(Pass) -> Status) -> Status {
    resume_interrupted_bounded(RESUME_LIMIT, call)
}

/// [`resume_interrupted`] with a bound of `max_calls` calls in total (at least one).
#[inline]
pub fn resume_interrupted_bounded(max_calls: u32, mut call: impl FnMut(Pass) -> Status) -> Status {
    let mut pass = Pass::Start;
    retry_while(
        max_calls,
        |status| status.is(StatusCode::InterruptedResumable),
        || {
            let status = call(pass);
            pass = Pass::Resume;
            status
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::status::Operand;

    /// A call that returns `first` for its first `times` calls, then `then`, and counts.
    fn scripted(
        first: Status,
        times: u32,
        then: Status,
        calls: &mut u32,
    ) -> impl FnMut() -> Status + '_ {
        move || {
            *calls += 1;
            if *calls <= times {
                first
            } else {
                then
            }
        }
    }

    #[test]
    fn no_entropy_retries_until_success() {
        let mut calls = 0;
        let status = retry_no_entropy(scripted(
            StatusCode::RndNoEntropy.status(),
            3,
            Status::SUCCESS,
            &mut calls,
        ));
        assert_eq!(status, Status::SUCCESS);
        assert_eq!(calls, 4);
    }

    #[test]
    fn no_entropy_gives_up_after_ten_calls() {
        let mut calls = 0;
        let status = retry_no_entropy(scripted(
            StatusCode::RndNoEntropy.status(),
            100,
            Status::SUCCESS,
            &mut calls,
        ));
        assert!(status.is(StatusCode::RndNoEntropy));
        assert_eq!(calls, RND_NO_ENTROPY_ATTEMPTS);
    }

    #[test]
    fn no_entropy_returns_other_errors_at_once() {
        let mut calls = 0;
        let busy = StatusCode::OperandBusy.with_operand(Operand::TDR);
        let status = retry_no_entropy(scripted(busy, 100, Status::SUCCESS, &mut calls));
        assert_eq!(status, busy);
        assert_eq!(calls, 1);
    }

    #[test]
    fn busy_retries_busy_kinds_only() {
        for busy in [
            StatusCode::OperandBusy.with_operand(Operand::SEPT_TREE),
            StatusCode::OperandBusyHostPriority.with_operand(Operand::RCX),
            StatusCode::SysBusy.status(),
        ] {
            let mut calls = 0;
            let status = retry_busy(
                BUSY_ATTEMPTS,
                scripted(busy, 5, Status::SUCCESS, &mut calls),
            );
            assert_eq!((status, calls), (Status::SUCCESS, 6), "{busy}");
        }
        let mut calls = 0;
        let epoch = StatusCode::PreviousTlbEpochBusy.status();
        assert_eq!(
            retry_busy(
                BUSY_ATTEMPTS,
                scripted(epoch, 5, Status::SUCCESS, &mut calls)
            ),
            epoch
        );
        assert_eq!(calls, 1);
        let mut calls = 0;
        let busy = StatusCode::OperandBusy.with_operand(Operand::TDR);
        assert_eq!(
            retry_busy(3, scripted(busy, 5, Status::SUCCESS, &mut calls)),
            busy
        );
        assert_eq!(calls, 3);
    }

    #[test]
    fn zero_attempts_still_calls_once() {
        let mut calls = 0;
        retry_while(
            0,
            |_| true,
            || {
                calls += 1;
                Status::SUCCESS
            },
        );
        assert_eq!(calls, 1);
    }

    #[test]
    fn resume_starts_once_then_resumes() {
        let mut passes = [None; 8];
        let mut calls = 0;
        let status = resume_interrupted(|pass| {
            passes[calls] = Some(pass);
            calls += 1;
            if calls < 4 {
                StatusCode::InterruptedResumable.status()
            } else {
                Status::SUCCESS
            }
        });
        assert_eq!(status, Status::SUCCESS);
        assert_eq!(
            passes[..5],
            [
                Some(Pass::Start),
                Some(Pass::Resume),
                Some(Pass::Resume),
                Some(Pass::Resume),
                None
            ]
        );
    }

    #[test]
    fn resume_stops_at_the_bound_with_the_last_status() {
        let mut calls = 0;
        let status = resume_interrupted_bounded(50, |_| {
            calls += 1;
            StatusCode::InterruptedResumable.status()
        });
        assert!(status.is(StatusCode::InterruptedResumable));
        assert_eq!(calls, 50);
        let mut calls = 0;
        resume_interrupted(|_| {
            calls += 1;
            StatusCode::InterruptedResumable.status()
        });
        assert_eq!(calls, RESUME_LIMIT);
    }

    #[test]
    fn resume_returns_errors_at_once() {
        let mut calls = 0;
        let error = StatusCode::WbcacheResumeError.status();
        assert_eq!(
            resume_interrupted(|_| {
                calls += 1;
                error
            }),
            error
        );
        assert_eq!(calls, 1);
    }
}
