//! Metadata access: TDH.SYS.RD/RDALL, TDH.MNG.RD/WR, TDH.VP.RD/WR (the field tables are in
//! `module::metadata`).

use super::*;
use crate::module::metadata;

impl State {
    pub(super) fn sys_rd(&mut self, lp: u32, regs: &mut Registers) -> LeafResult {
        let id = regs.rdx;
        regs.rdx = FieldId::NA.raw();
        regs.r8 = 0;
        if !self.platform.lp_init[lp as usize] {
            return Err(StatusCode::SysLpInitNotDone.status());
        }
        if FieldId::from_raw(id).is_null() {
            regs.rdx = metadata::first_field(metadata::sys_fields(self.version), Accessor::Host);
            return Ok(StatusCode::MetadataFirstFieldIdInContext.status());
        }
        let read = metadata::read(
            metadata::sys_fields(self.version),
            id,
            Accessor::Host,
            |get, i| get(self, i),
        )?;
        regs.r8 = read.value;
        regs.rdx = read.next;
        SUCCESS
    }

    pub(super) fn sys_rdall(&mut self, lp: u32, regs: &mut Registers) -> LeafResult {
        let start = regs.r8;
        regs.r8 = FieldId::NA.raw();
        if !self.platform.lp_init[lp as usize] {
            return Err(StatusCode::SysLpInitNotDone.status());
        }
        if !self.memory.check_shared(regs.rdx, PAGE_SIZE) {
            return Err(invalid(Operand::RDX));
        }
        let (list, next) = metadata::dump_list(
            metadata::sys_fields(self.version),
            start,
            Accessor::Host,
            PAGE_SIZE as usize,
            |get, i| get(self, i),
        )?;
        // Written with the host's key: into a TD's page, the TD loses those lines.
        self.memory.host_write(regs.rdx, &list);
        regs.r8 = next;
        if next == FieldId::NA.raw() {
            SUCCESS
        } else {
            Err(StatusCode::MetadataListOverflow.status())
        }
    }

    pub(super) fn mng_rd(&mut self, regs: &mut Registers, version: u8) -> LeafResult {
        let id = regs.rdx;
        regs.r8 = 0;
        if version > 0 {
            regs.rdx = FieldId::NA.raw();
        }
        let tdr = self.explicit_tdr(regs.rcx, Operand::RCX)?;
        self.td_state(tdr, Leaf::TdhMngRd)?;
        let td = &self.tds[&tdr];
        if FieldId::from_raw(id).is_null() {
            regs.rdx = metadata::td_id_for(
                self.version,
                metadata::first_field(metadata::TD_FIELDS, Accessor::Host),
            );
            return Ok(StatusCode::MetadataFirstFieldIdInContext.status());
        }
        if let Some(value) = crate::module::cpuid::read_values(self.cpuid, &td.config.cpuid, id) {
            regs.r8 = value?;
            return SUCCESS;
        }
        let read = metadata::read(metadata::TD_FIELDS, id, Accessor::Host, |get, i| get(td, i))?;
        regs.r8 = read.value;
        if version > 0 {
            regs.rdx = metadata::td_id_for(self.version, read.next);
        }
        SUCCESS
    }

    pub(super) fn mng_wr(&mut self, regs: &mut Registers) -> LeafResult {
        let (value, mask) = (regs.r8, regs.r9);
        regs.r8 = 0;
        let tdr = self.explicit_tdr(regs.rcx, Operand::RCX)?;
        self.td_state(tdr, Leaf::TdhMngWr)?;
        let td = self.tds.get_mut(&tdr).expect("TD");
        let (key, new, old) = metadata::write(
            metadata::TD_FIELDS,
            regs.rdx,
            Accessor::Host,
            value,
            mask,
            |get, i| get(td, i),
        )?;
        td.stored.insert(key, new);
        regs.r8 = old;
        SUCCESS
    }

    pub(super) fn vp_rd(&mut self, regs: &mut Registers, version: u8) -> LeafResult {
        let id = regs.rdx;
        regs.r8 = 0;
        if version > 0 {
            regs.rdx = FieldId::NA.raw();
        }
        let (tdvpr, tdr) = self.explicit_tdvpr(regs.rcx, Operand::RCX)?;
        self.td_state(tdr, Leaf::TdhVpRd)?;
        if self.vcpus[&tdvpr].tdvps_pages.len() < TDVPS_PAGES {
            return Err(StatusCode::TdcxNumIncorrect.status());
        }
        let (td, vcpu) = (&self.tds[&tdr], &self.vcpus[&tdvpr]);
        if FieldId::from_raw(id).is_null() {
            regs.rdx = metadata::first_field(metadata::VP_FIELDS, Accessor::Host);
            return Ok(StatusCode::MetadataFirstFieldIdInContext.status());
        }
        let read = metadata::read(metadata::VP_FIELDS, id, Accessor::Host, |get, i| {
            get(td, vcpu, i)
        })?;
        regs.r8 = read.value;
        if version > 0 {
            regs.rdx = read.next;
        }
        SUCCESS
    }

    pub(super) fn vp_wr(&mut self, regs: &mut Registers) -> LeafResult {
        let (value, mask) = (regs.r8, regs.r9);
        regs.r8 = 0;
        let (tdvpr, tdr) = self.explicit_tdvpr(regs.rcx, Operand::RCX)?;
        self.td_state(tdr, Leaf::TdhVpWr)?;
        if self.vcpus[&tdvpr].tdvps_pages.len() < TDVPS_PAGES {
            return Err(StatusCode::TdcxNumIncorrect.status());
        }
        let td = &self.tds[&tdr];
        let vcpu = self.vcpus.get_mut(&tdvpr).expect("vCPU");
        let (key, new, old) = metadata::write(
            metadata::VP_FIELDS,
            regs.rdx,
            Accessor::Host,
            value,
            mask,
            |get, i| get(td, vcpu, i),
        )?;
        vcpu.stored.insert(key, new);
        regs.r8 = old;
        SUCCESS
    }
}
