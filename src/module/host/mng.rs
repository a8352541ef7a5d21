//! TD management: TDH.MNG.CREATE, TDH.MNG.KEY.CONFIG, TDH.MNG.ADDCX, TDH.MNG.INIT (TD_PARAMS),
//! TDH.MNG.VPFLUSHDONE, TDH.MNG.KEY.FREEID.

use super::*;

impl State {
    pub(super) fn mng_create(&mut self, regs: &mut Registers) -> LeafResult {
        if regs.rdx >> 16 != 0 || !self.is_private_hkid(regs.rdx as u16) {
            return Err(invalid(Operand::RDX));
        }
        let hkid = regs.rdx as u16;
        let tdr = regs.rcx;
        self.memory
            .check_private_page(tdr, Operand::RCX, PageType::Nda)?;
        if self.kot.contains_key(&hkid) {
            return Err(StatusCode::HkidNotFree.status());
        }
        self.kot.insert(hkid, KotState::Assigned);
        // The TDR is initialized with the module's global private key.
        self.memory
            .fill_page(tdr, Key::Private(self.platform.global_hkid));
        self.take_page(tdr, PageType::Tdr, 0);
        let uuid = self.next_uuid();
        self.tds.insert(tdr, Td::new(hkid, uuid));
        SUCCESS
    }

    fn next_uuid(&mut self) -> [u64; 4] {
        self.uuid_counter += 1;
        let digest = crate::module::mrtd::sha384(&[&self.secret, &self.uuid_counter.to_le_bytes()]);
        core::array::from_fn(|i| {
            u64::from_le_bytes(digest[8 * i..8 * i + 8].try_into().expect("8 bytes"))
        })
    }

    pub(super) fn mng_key_config(&mut self, regs: &mut Registers) -> LeafResult {
        let tdr = self.explicit_tdr(regs.rcx, Operand::RCX)?;
        let td = self.tds.get_mut(&tdr).expect("a TDR page has a TD");
        if td.fatal {
            return Err(StatusCode::TdFatal.status());
        }
        if td.lifecycle != Lifecycle::HkidAssigned {
            return Err(StatusCode::LifecycleStateIncorrect.status());
        }
        // One package: configuring it configures the TD's key everywhere.
        td.lifecycle = Lifecycle::KeysConfigured;
        SUCCESS
    }

    pub(super) fn mng_addcx(&mut self, regs: &mut Registers) -> LeafResult {
        const MAX_TDCS_PAGES: usize = 9;
        let tdr = self.explicit_tdr(regs.rdx, Operand::RDX)?;
        let td = &self.tds[&tdr];
        if td.fatal {
            return Err(StatusCode::TdFatal.status());
        }
        if td.lifecycle != Lifecycle::KeysConfigured {
            return Err(StatusCode::TdKeysNotConfigured.status());
        }
        let index = td.tdcx.len();
        if index >= MAX_TDCS_PAGES {
            return Err(StatusCode::TdcxNumIncorrect.status());
        }
        let page = regs.rcx;
        self.memory
            .check_private_page(page, Operand::RCX, PageType::Nda)?;
        if index + 1 > TDCS_PAGES && !allowed_in(Leaf::TdhMngAddcx, td.op_state) {
            return Err(StatusCode::OpStateIncorrect.status());
        }
        self.memory.fill_page(page, Key::Private(td.hkid));
        self.take_page(page, PageType::Tdcx, tdr);
        let td = self.tds.get_mut(&tdr).expect("TD");
        td.tdcx.push(page);
        td.chldcnt += 1;
        SUCCESS
    }

    pub(super) fn mng_init(&mut self, regs: &mut Registers) -> LeafResult {
        let (tdr_operand, params_hpa) = (regs.rcx, regs.rdx);
        regs.rcx = 0;
        let tdr = self.explicit_tdr(tdr_operand, Operand::RCX)?;
        self.td_state(tdr, Leaf::TdhMngInit)?;
        if !self
            .memory
            .check_shared(params_hpa, crate::abi::td_params::TdParams::ALIGN)
        {
            return Err(invalid(Operand::RDX));
        }
        let mut params = [0u8; 1024];
        self.memory.host_read(params_hpa, &mut params);
        let config = parse_td_params(&params, self.cpuid).map_err(|(status, cpuid_leaf)| {
            regs.rcx = cpuid_leaf;
            status
        })?;
        let td = self.tds.get_mut(&tdr).expect("TD");
        td.config = config;
        td.measurement = MrtdBuilder::new();
        td.rtmr = [[0; 48]; 4];
        td.op_state = OpState::Initialized;
        SUCCESS
    }

    pub(super) fn mng_vpflushdone(&mut self, regs: &mut Registers) -> LeafResult {
        let tdr = self.explicit_tdr(regs.rcx, Operand::RCX)?;
        let td = self.tds.get_mut(&tdr).expect("TD");
        if !matches!(
            td.lifecycle,
            Lifecycle::KeysConfigured | Lifecycle::HkidAssigned
        ) {
            return Err(StatusCode::LifecycleStateIncorrect.status());
        }
        if td.tdcx.len() >= TDCS_PAGES
            && td.op_state != OpState::Uninitialized
            && td.num_assoc_vcpus != 0
        {
            return Err(StatusCode::FlushvpNotDone.status());
        }
        td.lifecycle = Lifecycle::Blocked;
        self.kot.insert(
            td.hkid,
            KotState::Flushed {
                written_back: false,
            },
        );
        // No vCPU of this TD can ever run again: release guest threads still waiting.
        for vcpu in self.vcpus.values_mut().filter(|vcpu| vcpu.tdr == tdr) {
            vcpu.bridge.gone = true;
        }
        SUCCESS
    }

    pub(super) fn mng_key_freeid(&mut self, regs: &mut Registers) -> LeafResult {
        let tdr = self.explicit_tdr(regs.rcx, Operand::RCX)?;
        let td = self.tds.get_mut(&tdr).expect("TD");
        if td.lifecycle != Lifecycle::Blocked {
            return Err(StatusCode::LifecycleStateIncorrect.status());
        }
        if self.kot.get(&td.hkid) != Some(&KotState::Flushed { written_back: true }) {
            return Err(StatusCode::WbcacheNotComplete.status());
        }
        self.kot.remove(&td.hkid);
        td.lifecycle = Lifecycle::Teardown;
        SUCCESS
    }
}

/// Parses and checks TD_PARAMS as TDH.MNG.INIT does (`read_and_set_td_configurations`,
/// `read_and_set_cpuid_configurations`). An error carries the status and the value of RCX
/// (the CPUID leaf/subleaf for a CPUID_CONFIG error, else 0).
fn parse_td_params(
    p: &[u8; 1024],
    cpuid_table: &'static crate::cpuid::CpuidTable,
) -> Result<TdConfig, (Status, u64)> {
    let u64_at = |offset: usize| u64::from_le_bytes(p[offset..offset + 8].try_into().expect("8"));
    let u16_at = |offset: usize| u16::from_le_bytes([p[offset], p[offset + 1]]);
    let zero = |range: core::ops::Range<usize>| p[range].iter().all(|&b| b == 0);
    let measurement =
        |offset: usize| -> [u8; 48] { p[offset..offset + 48].try_into().expect("48") };
    let fail = |operand: Operand| Err((invalid(operand), 0));

    let attributes = u64_at(0);
    if !within_fixed(attributes, ATTRIBUTES_FIXED0, ATTRIBUTES_FIXED1) {
        return fail(Operand::ATTRIBUTES);
    }
    let xfam = u64_at(8);
    if !xfam_valid(xfam) {
        return fail(Operand::XFAM);
    }
    let max_vcpus = u16_at(16);
    if max_vcpus == 0 {
        return fail(Operand::MAX_VCPUS);
    }
    // TD partitioning is not enumerated (TDX_FEATURES0 bit 7 clear): no L2 VMs.
    if p[18] != 0 {
        return fail(Operand::NUM_L2_VMS);
    }
    if !zero(20..24) {
        return fail(Operand::RDX);
    }
    let config_flags = u64_at(32);
    if !within_fixed(config_flags, CONFIG_FLAGS_FIXED0, CONFIG_FLAGS_FIXED1) {
        return fail(Operand::EXEC_CONTROLS);
    }
    let gpaw = config_flags & crate::abi::ConfigFlags::GPAW.bits() != 0;
    // EPTP_CONTROLS: memory type WB (6), page-walk length 4 (GPAW 48) or 5 (GPAW 52).
    let eptp = u64_at(24);
    let walk_minus_one = (eptp >> 3) & 7;
    if eptp & !0x3F != 0 || eptp & 7 != 6 || walk_minus_one != if gpaw { 4 } else { 3 } {
        return fail(Operand::EPTP_CONTROLS);
    }
    let tsc_frequency = u16_at(40);
    if !(TSC_FREQUENCY_RANGE.0..=TSC_FREQUENCY_RANGE.1).contains(&tsc_frequency) {
        return fail(Operand::TSC_FREQUENCY);
    }
    if !zero(42..80) {
        return fail(Operand::RDX);
    }
    if p[19] & !1 != 0 {
        return fail(Operand::RDX);
    }
    if !zero(232..256) {
        return fail(Operand::RDX);
    }
    let cpuid = crate::module::cpuid::mng_init(cpuid_table, p)?;
    // IA32_ARCH_CAPABILITIES_CONFIG: the model's mask of configurable bits is empty.
    if p[19] & 1 != 0 && u64_at(224) != 0 {
        return fail(Operand::IA32_ARCH_CAPABILITIES_CONFIG);
    }
    Ok(TdConfig {
        attributes,
        xfam,
        max_vcpus,
        gpaw,
        eptp,
        config_flags,
        tsc_frequency,
        mr_config_id: measurement(80),
        mr_owner: measurement(128),
        mr_owner_config: measurement(176),
        cpuid,
    })
}

/// Whether `value` sets only bits of `fixed0` and every bit of `fixed1`.
fn within_fixed(value: u64, fixed0: u64, fixed1: u64) -> bool {
    value & !fixed0 == 0 && value & fixed1 == fixed1
}

/// `check_xfam`: inside FIXED0/FIXED1, and the component groups that go together do.
fn xfam_valid(xfam: u64) -> bool {
    use crate::abi::Xfam;
    let has = |bits: Xfam| xfam & bits.bits() == bits.bits();
    let any = |bits: Xfam| xfam & bits.bits() != 0;
    let avx512 = Xfam::AVX512_OPMASK | Xfam::AVX512_ZMM_HI256 | Xfam::AVX512_HI16_ZMM;
    let cet = Xfam::CET_U | Xfam::CET_S;
    let amx = Xfam::AMX_TILECFG | Xfam::AMX_TILEDATA;
    within_fixed(xfam, XFAM_FIXED0, XFAM_FIXED1)
        && (!any(Xfam::AVX) || has(Xfam::SSE))
        && (!any(avx512) || (has(avx512) && has(Xfam::AVX)))
        && (!any(cet) || has(cet))
        && (!any(amx) || has(amx))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xfam_groups() {
        assert!(xfam_valid(0x3));
        assert!(xfam_valid(0x7));
        assert!(xfam_valid(0xE7));
        assert!(!xfam_valid(0x1), "SSE is fixed to 1");
        assert!(!xfam_valid(0x27), "AVX-512 components come together");
        assert!(!xfam_valid(0x3 | 1 << 10), "bit 10 is outside XFAM_FIXED0");
    }
}
