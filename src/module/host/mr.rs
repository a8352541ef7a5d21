//! Measurement: TDH.MR.EXTEND, TDH.MR.FINALIZE.

use super::mem::fail_with_details;
use super::*;

impl State {
    pub(super) fn mr_extend(&mut self, regs: &mut Registers) -> LeafResult {
        let (gpa, tdr_operand) = (regs.rcx, regs.rdx);
        regs.rcx = 0;
        regs.rdx = 0;
        let tdr = self.explicit_tdr(tdr_operand, Operand::RDX)?;
        self.td_state(tdr, Leaf::TdhMrExtend)?;
        if gpa % crate::module::mrtd::MR_EXTEND_CHUNK as u64 != 0
            || !private_gpa(&self.tds[&tdr], gpa)
        {
            return Err(invalid(Operand::RCX));
        }
        let not_present = StatusCode::EptEntryNotPresent.with_operand(Operand::RCX);
        let page_gpa = gpa & !(PAGE_SIZE - 1);
        let entry = self.walk_or_fail(regs, tdr, page_gpa, 0, not_present)?;
        let Some(septe) = entry.filter(|e| e.state == SeptState::Mapped) else {
            return Err(fail_with_details(
                regs,
                StatusCode::EptEntryNotPresent.status(),
                entry,
                0,
            ));
        };
        let mut chunk = [0u8; crate::module::mrtd::MR_EXTEND_CHUNK];
        let hkid = self.tds[&tdr].hkid;
        if self
            .memory
            .td_read(hkid, septe.hpa + (gpa - page_gpa), &mut chunk)
            .is_err()
        {
            // The chunk failed its integrity check (the host wrote there with its key).
            self.machine_check(tdr);
            return Err(StatusCode::TdFatal.status());
        }
        self.tds
            .get_mut(&tdr)
            .expect("TD")
            .measurement
            .mr_extend(gpa, &chunk);
        SUCCESS
    }

    pub(super) fn mr_finalize(&mut self, regs: &mut Registers) -> LeafResult {
        let tdr = self.explicit_tdr(regs.rcx, Operand::RCX)?;
        self.td_state(tdr, Leaf::TdhMrFinalize)?;
        let td = self.tds.get_mut(&tdr).expect("TD");
        if td.num_vcpus == 0 {
            return Err(StatusCode::NoVcpus.status());
        }
        td.mrtd = td.measurement.finish();
        td.op_state = OpState::Runnable;
        SUCCESS
    }
}
