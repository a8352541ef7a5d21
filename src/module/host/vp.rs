//! vCPUs: TDH.VP.CREATE, TDH.VP.ADDCX, TDH.VP.INIT, TDH.VP.ENTER (its checks), TDH.VP.FLUSH.

use super::*;

impl State {
    pub(super) fn vp_create(&mut self, regs: &mut Registers) -> LeafResult {
        let tdr = self.explicit_tdr(regs.rdx, Operand::RDX)?;
        self.td_state(tdr, Leaf::TdhVpCreate)?;
        let tdvpr = regs.rcx;
        self.memory
            .check_private_page(tdvpr, Operand::RCX, PageType::Nda)?;
        let key = Key::Private(self.tds[&tdr].hkid);
        self.memory.fill_page(tdvpr, key);
        self.take_page(tdvpr, PageType::Tdvpr, tdr);
        self.tds.get_mut(&tdr).expect("TD").chldcnt += 1;
        self.vcpu_serial += 1;
        self.vcpus.insert(
            tdvpr,
            Vcpu {
                serial: self.vcpu_serial,
                tdr,
                tdvps_pages: std::vec![tdvpr],
                state: VcpuState::Uninitialized,
                index: u32::MAX,
                assoc_lp: None,
                initial_rcx: 0,
                last_exit: LastExit::Async,
                stored: Default::default(),
                bridge: Bridge::default(),
            },
        );
        SUCCESS
    }

    pub(super) fn vp_addcx(&mut self, regs: &mut Registers) -> LeafResult {
        let (tdvpr, tdr) = self.explicit_tdvpr(regs.rdx, Operand::RDX)?;
        self.td_state(tdr, Leaf::TdhVpAddcx)?;
        let vcpu = &self.vcpus[&tdvpr];
        if vcpu.state != VcpuState::Uninitialized {
            return Err(StatusCode::VcpuStateIncorrect.status());
        }
        if vcpu.tdvps_pages.len() >= MAX_TDVPS_PAGES {
            return Err(StatusCode::TdcxNumIncorrect.status());
        }
        let page = regs.rcx;
        self.memory
            .check_private_page(page, Operand::RCX, PageType::Nda)?;
        let key = Key::Private(self.tds[&tdr].hkid);
        self.memory.fill_page(page, key);
        self.take_page(page, PageType::Tdcx, tdr);
        self.vcpus
            .get_mut(&tdvpr)
            .expect("vCPU")
            .tdvps_pages
            .push(page);
        self.tds.get_mut(&tdr).expect("TD").chldcnt += 1;
        SUCCESS
    }

    pub(super) fn vp_init(&mut self, lp: u32, regs: &mut Registers, version: u8) -> LeafResult {
        let (tdvpr, tdr) = self.explicit_tdvpr(regs.rcx, Operand::RCX)?;
        self.td_state(tdr, Leaf::TdhVpInit)?;
        let vcpu = &self.vcpus[&tdvpr];
        if vcpu.tdvps_pages.len() < TDVPS_PAGES {
            return Err(StatusCode::TdcxNumIncorrect.status());
        }
        if vcpu.state != VcpuState::Uninitialized {
            return Err(StatusCode::VcpuStateIncorrect.status());
        }
        let td = self.tds.get_mut(&tdr).expect("TD");
        let x2apic_id = if version > 0 {
            if regs.r8 >> 32 != 0 {
                return Err(invalid(Operand::R8));
            }
            let id = regs.r8 as u32;
            if td.x2apic_ids.contains(&id) {
                return Err(StatusCode::X2apicIdNotUnique.with_details(id));
            }
            id
        } else {
            td.num_vcpus
        };
        if td.num_vcpus >= u32::from(td.config.max_vcpus) {
            return Err(StatusCode::MaxVcpusExceeded.status());
        }
        let index = td.num_vcpus;
        td.num_vcpus += 1;
        td.x2apic_ids.push(x2apic_id);
        // TDH.VP.INIT associates the vCPU with the LP it runs on.
        td.num_assoc_vcpus += 1;
        let vcpu = self.vcpus.get_mut(&tdvpr).expect("vCPU");
        vcpu.index = index;
        vcpu.initial_rcx = regs.rdx;
        vcpu.state = VcpuState::Ready;
        vcpu.assoc_lp = Some(lp);
        SUCCESS
    }

    /// TDH.VP.ENTER's checks before the vCPU runs; associates it with `lp`.
    pub(super) fn vp_enter_checks(&mut self, lp: u32, rcx: u64) -> Result<u64, Status> {
        const HOST_RECOVERABILITY_HINT: u64 = 1 << 52;
        const RESUME_L1: u64 = 1 << 53;
        const TDVPR_MASK: u64 = 0x000F_FFFF_FFFF_F000;
        if rcx & !(TDVPR_MASK | HOST_RECOVERABILITY_HINT | RESUME_L1) != 0 {
            return Err(invalid(Operand::RCX));
        }
        let (tdvpr, tdr) = self.explicit_tdvpr(rcx & TDVPR_MASK, Operand::RCX)?;
        self.td_state(tdr, Leaf::TdhVpEnter)?;
        let vcpu = &self.vcpus[&tdvpr];
        if vcpu.tdvps_pages.len() < TDVPS_PAGES {
            return Err(StatusCode::TdcxNumIncorrect.status());
        }
        if vcpu.state != VcpuState::Ready {
            return Err(StatusCode::VcpuStateIncorrect.status());
        }
        match vcpu.assoc_lp {
            Some(other) if other != lp => return Err(StatusCode::VcpuAssociated.status()),
            Some(_) => {}
            None => {
                self.tds.get_mut(&tdr).expect("TD").num_assoc_vcpus += 1;
                self.vcpus.get_mut(&tdvpr).expect("vCPU").assoc_lp = Some(lp);
            }
        }
        // The model's TD exits are never asynchronous traps, and it has no L2 VMs.
        if rcx & (HOST_RECOVERABILITY_HINT | RESUME_L1) != 0 {
            return Err(invalid(Operand::RCX));
        }
        Ok(tdvpr)
    }

    pub(super) fn vp_flush(&mut self, lp: u32, regs: &mut Registers) -> LeafResult {
        let (tdvpr, tdr) = self.explicit_tdvpr(regs.rcx, Operand::RCX)?;
        let td = &self.tds[&tdr];
        if td.lifecycle != Lifecycle::KeysConfigured {
            return Err(StatusCode::TdKeysNotConfigured.status());
        }
        let vcpu = &self.vcpus[&tdvpr];
        if vcpu.tdvps_pages.len() < TDVPS_PAGES {
            return Err(StatusCode::TdcxNumIncorrect.status());
        }
        if vcpu.assoc_lp != Some(lp) {
            return Err(StatusCode::VcpuNotAssociated.status());
        }
        self.vcpus.get_mut(&tdvpr).expect("vCPU").assoc_lp = None;
        let td = self.tds.get_mut(&tdr).expect("TD");
        td.num_assoc_vcpus = td.num_assoc_vcpus.saturating_sub(1);
        SUCCESS
    }
}
