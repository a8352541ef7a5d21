//! Service TDs: TDH.SERVTD.PREBIND and BIND (host), TDG.SERVTD.RD and WR (the service TD's
//! guest code).
//!
//! Module 1.5 has one binding slot (MAX_SERV_TDS = 1) and one service-TD type, the
//! migration TD (type 0). The binding handle the model returns is the target TD's TDR HPA
//! (the module's handle encoding is not modelled). SERVTD_INFO_HASH is SHA-384 over the
//! service TD's 512-byte TDINFO_STRUCT (ATTRIBUTES, XFAM, MRTD, MRCONFIGID, MROWNER,
//! MROWNERCONFIG, RTMR0-3, SERVTD_HASH, reserved) with the fields SERVTD_ATTR says to ignore
//! zeroed; see [`SoftwareModule::servtd_info_hash`](crate::module::SoftwareModule::servtd_info_hash).
//!
//! TDG.SERVTD.WR writes the migration keys (MIG_ENC_KEY on the source, MIG_DEC_KEY on the
//! destination, 4 64-bit elements each; write-only); TDG.SERVTD.RD reads OP_STATE,
//! MIG_EPOCH and MIG_DEC_KEY_SET. Other fields answer TDX_METADATA_FIELD_ID_INCORRECT.

use super::mig::{column, Binding, SERVTD_STATES, SERVTD_WR_STATES};
use super::{invalid, LeafResult, SUCCESS};
use crate::abi::fields;
use crate::abi::mig::ServtdAttr;
use crate::emu::Registers;
use crate::leaf::Leaf;
use crate::module::state::*;
use crate::status::{Operand, Status, StatusCode};
use sha2::{Digest, Sha384};

/// The migration TD's service-TD type.
pub(in crate::module) const SERVTD_TYPE_MIGTD: u64 = 0;

impl State {
    /// SERVTD_INFO_HASH of a TD, with the TDINFO fields `attr` ignores zeroed.
    pub(in crate::module) fn servtd_info_hash(&self, tdr: u64, attr: u64) -> Option<[u8; 48]> {
        let td = self.tds.get(&tdr)?;
        let ignore = |bit: u64| attr & bit != 0;
        let mut info = [0u8; 512];
        if !ignore(ServtdAttr::IGNORE_ATTRIBUTES) {
            info[0..8].copy_from_slice(&td.config.attributes.to_le_bytes());
        }
        if !ignore(ServtdAttr::IGNORE_XFAM) {
            info[8..16].copy_from_slice(&td.config.xfam.to_le_bytes());
        }
        let measurements = [
            (ServtdAttr::IGNORE_MRTD, &td.mrtd),
            (ServtdAttr::IGNORE_MRCONFIG, &td.config.mr_config_id),
            (ServtdAttr::IGNORE_MROWNER, &td.config.mr_owner),
            (ServtdAttr::IGNORE_MROWNERCONFIG, &td.config.mr_owner_config),
            (ServtdAttr::IGNORE_RTMR0, &td.rtmr[0]),
            (ServtdAttr::IGNORE_RTMR0 << 1, &td.rtmr[1]),
            (ServtdAttr::IGNORE_RTMR0 << 2, &td.rtmr[2]),
            (ServtdAttr::IGNORE_RTMR0 << 3, &td.rtmr[3]),
        ];
        for (i, (bit, value)) in measurements.into_iter().enumerate() {
            if !ignore(bit) {
                info[16 + 48 * i..64 + 48 * i].copy_from_slice(value);
            }
        }
        Some(Sha384::digest(info).into())
    }

    /// The operand checks BIND and PREBIND share: slot (R8), type (R9), attributes (R10).
    fn servtd_operands(&self, regs: &Registers) -> Result<(), Status> {
        if regs.r8 != 0 {
            return Err(invalid(Operand::R8));
        }
        if regs.r9 != SERVTD_TYPE_MIGTD {
            return Err(invalid(Operand::R9));
        }
        if regs.r10 & !ServtdAttr::ALLOWED != 0 {
            return Err(invalid(Operand::R10));
        }
        Ok(())
    }

    /// TDH.SERVTD.PREBIND: RCX = target TDR, RDX = the hash (64-byte aligned shared
    /// memory), R8 slot, R9 type, R10 attributes.
    pub(super) fn servtd_prebind(&mut self, regs: &mut Registers) -> LeafResult {
        let tdr = self.mig_td(regs.rcx, Operand::RCX, Leaf::TdhServtdPrebind)?;
        if !self.memory.check_shared(regs.rdx, 64) {
            return Err(invalid(Operand::RDX));
        }
        self.servtd_operands(regs)?;
        if self.tds[&tdr]
            .mig
            .binding
            .is_some_and(|b| b.servtd.is_some())
        {
            return Err(StatusCode::ServtdAlreadyBoundForType.status());
        }
        let mut info_hash = [0u8; 48];
        self.memory.host_read(regs.rdx, &mut info_hash);
        self.tds.get_mut(&tdr).expect("TD").mig.binding = Some(Binding {
            servtd: None,
            servtd_type: regs.r9 as u16,
            attr: regs.r10,
            info_hash,
        });
        SUCCESS
    }

    /// TDH.SERVTD.BIND: RCX = target TDR, RDX = service TDR, R8 slot, R9 type, R10
    /// attributes. Out: RCX = binding handle, R10-R13 = the target's UUID.
    pub(super) fn servtd_bind(&mut self, regs: &mut Registers) -> LeafResult {
        let (target_operand, servtd_operand) = (regs.rcx, regs.rdx);
        regs.rcx = 0;
        let tdr = self.mig_td(target_operand, Operand::RCX, Leaf::TdhServtdBind)?;
        let servtd = self.explicit_tdr(servtd_operand, Operand::RDX)?;
        if servtd == tdr {
            return Err(invalid(Operand::RDX));
        }
        let other = &self.tds[&servtd];
        if other.fatal {
            return Err(StatusCode::TdFatal.status());
        }
        if other.lifecycle != Lifecycle::KeysConfigured || !SERVTD_STATES[column(other.op_state)] {
            return Err(StatusCode::OpStateIncorrect.status());
        }
        self.servtd_operands(regs)?;
        let attr = regs.r10;
        let hash = self.servtd_info_hash(servtd, attr).expect("service TD");
        match self.tds[&tdr].mig.binding {
            Some(Binding {
                servtd: Some(_), ..
            }) => return Err(StatusCode::ServtdAlreadyBoundForType.status()),
            Some(pre) => {
                if u64::from(pre.servtd_type) != regs.r9 {
                    return Err(StatusCode::ServtdTypeMismatch.status());
                }
                if pre.attr != attr {
                    return Err(StatusCode::ServtdAttrMismatch.status());
                }
                if pre.info_hash != hash {
                    return Err(StatusCode::ServtdInfoHashMismatch.status());
                }
            }
            None => {}
        }
        let td = self.tds.get_mut(&tdr).expect("TD");
        td.mig.binding = Some(Binding {
            servtd: Some(servtd),
            servtd_type: regs.r9 as u16,
            attr,
            info_hash: hash,
        });
        regs.rcx = tdr;
        [regs.r10, regs.r11, regs.r12, regs.r13] = td.uuid;
        SUCCESS
    }

    /// The target of a TDG.SERVTD.RD/WR by the service TD `caller`: handle (RCX) bound to
    /// `caller`, UUID (R10-R13) current.
    fn servtd_target(&self, caller: u64, regs: &Registers) -> Result<u64, Status> {
        let target = regs.rcx;
        let bound = self
            .tds
            .get(&target)
            .and_then(|td| td.mig.binding)
            .and_then(|b| b.servtd);
        if bound != Some(caller) {
            return Err(StatusCode::ServtdNotBound.status());
        }
        let td = &self.tds[&target];
        if [regs.r10, regs.r11, regs.r12, regs.r13] != td.uuid {
            return Err(StatusCode::TargetUuidMismatch.status());
        }
        Ok(target)
    }

    /// TDG.SERVTD.RD: RCX handle, RDX field, R10-R13 UUID. Out: RDX field, R8 value.
    pub(in crate::module) fn servtd_rd(&mut self, caller: u64, regs: &mut Registers) -> LeafResult {
        let target = self.servtd_target(caller, regs)?;
        let td = &self.tds[&target];
        let field = regs.rdx;
        let value = if field == fields::td::OP_STATE.raw() {
            td.op_state as u64
        } else if field == fields::td::MIG_EPOCH.raw() {
            u64::from(td.mig.epoch)
        } else if field == fields::td::MIG_DEC_KEY_SET.raw() {
            u64::from(td.mig.dec_key_set)
        } else if key_element(field).is_some() {
            return Err(StatusCode::MetadataFieldNotReadable.status());
        } else {
            return Err(StatusCode::MetadataFieldIdIncorrect.status());
        };
        regs.r8 = value;
        SUCCESS
    }

    /// TDG.SERVTD.WR: RCX handle, RDX field, R8 value, R9 mask, R10-R13 UUID. Out: R8 the
    /// old value (0 for the write-only keys).
    pub(in crate::module) fn servtd_wr(&mut self, caller: u64, regs: &mut Registers) -> LeafResult {
        let target = self.servtd_target(caller, regs)?;
        let Some((decrypt, element)) = key_element(regs.rdx) else {
            return Err(StatusCode::MetadataFieldIdIncorrect.status());
        };
        let td = self.tds.get_mut(&target).expect("TD");
        if !SERVTD_WR_STATES[column(td.op_state)] {
            return Err(StatusCode::OpStateIncorrect.status());
        }
        let (key, set) = if decrypt {
            (&mut td.mig.dec_key, &mut td.mig.dec_key_set)
        } else {
            (&mut td.mig.enc_key, &mut td.mig.enc_key_set)
        };
        key[element] = (key[element] & !regs.r9) | (regs.r8 & regs.r9);
        *set = true;
        regs.r8 = 0;
        SUCCESS
    }
}

/// MIG_ENC_KEY / MIG_DEC_KEY element `i` (field code + i): `(decrypt, i)`.
fn key_element(field: u64) -> Option<(bool, usize)> {
    for (decrypt, base) in [
        (false, fields::td::MIG_ENC_KEY.raw()),
        (true, fields::td::MIG_DEC_KEY.raw()),
    ] {
        if (base..base + 4).contains(&field) {
            return Some((decrypt, (field - base) as usize));
        }
    }
    None
}
