//! Every metadata field of a TD or a vCPU, through TDH.MNG.RD / TDH.VP.RD version 1 and
//! their next-field IDs: [`Host::mng_fields`] and [`Host::vp_fields`], the TD and vCPU
//! counterparts of [`Host::sys_fields`]. Name the IDs with
//! [`field_name`](crate::abi::field_names::field_name).

use super::Host;
use crate::abi::{Context, FieldId, TdrPage, TdvprPage};
use crate::call::Backend;
use crate::error::Result;

/// Which control structure a [`Fields`] iterator reads.
#[derive(Clone, Copy, Debug)]
enum Source {
    Td(TdrPage),
    Vcpu(TdvprPage),
}

/// An iterator over a TD's or a vCPU's metadata fields: `(field ID, value)` pairs in the
/// module's order. A failing read is yielded and ends the iteration.
#[derive(Debug)]
pub struct Fields<'h, B: Backend> {
    host: &'h mut Host<B>,
    source: Source,
    next: Option<FieldId>,
}

impl<B: Backend> Iterator for Fields<'_, B> {
    type Item = Result<(FieldId, u64)>;

    fn next(&mut self) -> Option<Self::Item> {
        let field = self.next.take()?;
        let read = match self.source {
            Source::Td(tdr) => self.host.mng_rd_next(tdr, field),
            Source::Vcpu(tdvpr) => self.host.vp_rd_next(tdvpr, field),
        };
        Some(read.map(|read| {
            self.next = read.next;
            (field, read.value)
        }))
    }
}

impl<B: Backend> Host<B> {
    /// Every TD-scope field (TDR and TDCS) the module lets the host read: the first call
    /// reads the null ID to learn the first field.
    ///
    /// # Errors
    ///
    /// As [`Host::mng_rd_next`] for the first read; each item is a [`Result`] too.
    pub fn mng_fields(&mut self, tdr: TdrPage) -> Result<Fields<'_, B>> {
        let first = self.mng_rd_next(tdr, FieldId::null(Context::Td))?;
        Ok(Fields {
            host: self,
            source: Source::Td(tdr),
            next: first.next,
        })
    }

    /// Every vCPU-scope field (TDVPS) the module lets the host read.
    ///
    /// # Errors
    ///
    /// As [`Host::vp_rd_next`] for the first read; each item is a [`Result`] too.
    pub fn vp_fields(&mut self, tdvpr: TdvprPage) -> Result<Fields<'_, B>> {
        let first = self.vp_rd_next(tdvpr, FieldId::null(Context::Vcpu))?;
        Ok(Fields {
            host: self,
            source: Source::Vcpu(tdvpr),
            next: first.next,
        })
    }
}
