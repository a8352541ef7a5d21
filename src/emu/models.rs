//! Ready-made models: a recorder that answers from a script or a closure, and a fault
//! injector.

use super::{Call, Fault, Model, Outcome, Registers};
use crate::call::CallKind;
use crate::fixup::Site;
use crate::regs::Regs;
use crate::status::Status;
use std::boxed::Box;
use std::collections::VecDeque;
use std::vec::Vec;

/// An answer that does not depend on the call's inputs, for scripts and fault injection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Answer {
    /// Complete with RAX = this status and every other register as the caller passed it
    /// (status flags cleared).
    Status(Status),
    /// Complete with RAX = `status` and these 13 output registers (RBP as passed, status
    /// flags cleared).
    Outputs {
        /// RAX.
        status: Status,
        /// RCX, RDX, R8-R15, RBX, RDI, RSI.
        regs: Regs,
    },
    /// SEAMCALL VMfailInvalid (CF=1); #UD at a TDCALL site.
    VmFailInvalid,
    /// #UD on the instruction.
    Ud,
    /// #GP on the instruction.
    Gp,
}

impl Answer {
    /// The outcome this answer gives `call`.
    pub fn outcome(&self, call: &Call<'_>) -> Outcome {
        match *self {
            Answer::Status(status) => call.complete(status),
            Answer::Outputs { status, regs } => {
                let mut registers = call.registers().with_status(status);
                registers.set_regs(&regs);
                Outcome::Return(registers)
            }
            Answer::VmFailInvalid => Outcome::VmFailInvalid,
            Answer::Ud => Outcome::Fault(Fault::Ud),
            Answer::Gp => Outcome::Fault(Fault::Gp),
        }
    }

    /// The status a thunk of `kind` returns for this answer: the status itself, or the
    /// crate's software code for the fault (VMfailInvalid is #UD on TDCALL).
    pub fn expected_status(&self, kind: CallKind) -> Status {
        let tdcall = kind.is_tdcall();
        match *self {
            Answer::Status(status) | Answer::Outputs { status, .. } => status,
            Answer::VmFailInvalid if !tdcall => Status::SEAMCALL_VMFAILINVALID,
            Answer::VmFailInvalid | Answer::Ud => Status::for_fault(tdcall, Fault::Ud.vector()),
            Answer::Gp => Status::for_fault(tdcall, Fault::Gp.vector()),
        }
    }
}

/// One call a [`Recorder`] saw.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Record {
    /// The instruction site.
    pub site: Site,
    /// The thunk the site belongs to.
    pub kind: CallKind,
    /// The exception the CPU raised.
    pub vector: u8,
    /// Every register at the instruction (RAX is the leaf).
    pub registers: Registers,
    /// How the call was answered.
    pub outcome: Outcome,
}

type Responder = Box<dyn FnMut(&mut Call<'_>) -> Outcome>;

enum Source {
    Script(VecDeque<Answer>),
    Closure(Responder),
}

/// A model that records every call's inputs and answers from a script or a closure.
///
/// A scripted recorder panics (inside the model: the call gets #UD and the panic comes back
/// when the guard is dropped) when a call arrives after the script ran out.
pub struct Recorder {
    records: Vec<Record>,
    source: Source,
}

impl Recorder {
    /// A recorder that answers each call with `respond`.
    pub fn new(respond: impl FnMut(&mut Call<'_>) -> Outcome + 'static) -> Recorder {
        Recorder {
            records: Vec::new(),
            source: Source::Closure(Box::new(respond)),
        }
    }

    /// A recorder that answers the calls in order with `answers`.
    pub fn scripted(answers: impl IntoIterator<Item = Answer>) -> Recorder {
        Recorder {
            records: Vec::new(),
            source: Source::Script(answers.into_iter().collect()),
        }
    }

    /// Appends answers to the script (a closure recorder becomes scripted).
    pub fn push_answers(&mut self, answers: impl IntoIterator<Item = Answer>) {
        match &mut self.source {
            Source::Script(script) => script.extend(answers),
            Source::Closure(_) => self.source = Source::Script(answers.into_iter().collect()),
        }
    }

    /// Every call so far, oldest first.
    pub fn records(&self) -> &[Record] {
        &self.records
    }

    /// Takes the records, leaving none.
    pub fn take_records(&mut self) -> Vec<Record> {
        core::mem::take(&mut self.records)
    }
}

impl core::fmt::Debug for Recorder {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let mut out = f.debug_struct("Recorder");
        out.field("records", &self.records);
        match &self.source {
            Source::Script(script) => out.field("script", script),
            Source::Closure(_) => out.field("script", &"closure"),
        };
        out.finish()
    }
}

impl Model for Recorder {
    fn call(&mut self, call: &mut Call<'_>) -> Outcome {
        let outcome = match &mut self.source {
            Source::Closure(respond) => respond(call),
            Source::Script(script) => match script.pop_front() {
                Some(answer) => answer.outcome(call),
                None => panic!(
                    "Recorder: script exhausted after {} calls; unexpected {:?} leaf {:#x}",
                    self.records.len(),
                    call.kind(),
                    call.leaf()
                ),
            },
        };
        self.records.push(Record {
            site: call.site(),
            kind: call.kind(),
            vector: call.vector(),
            registers: *call.registers(),
            outcome,
        });
        outcome
    }
}

/// A model that answers every call with the same [`Answer`] and counts the calls.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FaultInjector {
    answer: Answer,
    calls: u64,
}

impl FaultInjector {
    /// Answers every call with `answer`.
    pub fn new(answer: Answer) -> FaultInjector {
        FaultInjector { answer, calls: 0 }
    }

    /// The answer given.
    pub fn answer(&self) -> Answer {
        self.answer
    }

    /// Changes the answer for the calls to come.
    pub fn set_answer(&mut self, answer: Answer) {
        self.answer = answer;
    }

    /// How many calls were answered.
    pub fn calls(&self) -> u64 {
        self.calls
    }
}

impl Model for FaultInjector {
    fn call(&mut self, call: &mut Call<'_>) -> Outcome {
        self.calls += 1;
        self.answer.outcome(call)
    }
}
