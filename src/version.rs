//! The bottom of the crate: which TDX module a caller talks to, and which instruction a call
//! uses. Nothing here depends on any other module of the crate; the leaf, status and field
//! tables, the thunks and the wrappers all build on it.
//!
//! [`ModuleVersion`] is a module's `major.minor.update` as TDH.SYS.RD reports it
//! (MAJOR_VERSION, MINOR_VERSION, UPDATE_VERSION). The crate's tables say, per entry, which of
//! the versions whose source was read ([`ModuleVersion::READ`]) have it; a version that was
//! not read is never claimed.

use core::fmt;

/// A TDX module version, for "needs at least" checks and docs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ModuleVersion {
    /// Major version.
    pub major: u8,
    /// Minor version.
    pub minor: u8,
    /// Update version.
    pub update: u8,
}

impl ModuleVersion {
    /// `major.minor.update`.
    pub const fn new(major: u8, minor: u8, update: u8) -> ModuleVersion {
        ModuleVersion {
            major,
            minor,
            update,
        }
    }

    /// TDX module 1.0 (1.0.3 is the version checked).
    pub const V1_0: ModuleVersion = ModuleVersion::new(1, 0, 3);
    /// TDX module 1.5.01.
    pub const V1_5: ModuleVersion = ModuleVersion::new(1, 5, 1);
    /// TDX module 1.5.05.
    pub const V1_5_05: ModuleVersion = ModuleVersion::new(1, 5, 5);
    /// TDX module 1.5.06.
    pub const V1_5_06: ModuleVersion = ModuleVersion::new(1, 5, 6);
    /// TDX module 1.5.28 (the first 1.5 release read with Dynamic PAMT and event filtering).
    pub const V1_5_28: ModuleVersion = ModuleVersion::new(1, 5, 28);
    /// TDX module 1.5.32 (adds memory scan, service-TD rebind and the sealing key).
    pub const V1_5_32: ModuleVersion = ModuleVersion::new(1, 5, 32);
    /// TDX module 2.0.08 (the first 2.0 release read).
    pub const V2_0_08: ModuleVersion = ModuleVersion::new(2, 0, 8);
    /// TDX module 2.0.18.
    pub const V2_0_18: ModuleVersion = ModuleVersion::new(2, 0, 18);

    /// Every version whose module source the crate's tables were transcribed from, oldest
    /// first. 1.5.2x/1.5.3x and 2.0 are separate branches: 2.0.08 lacks some codes and
    /// leaves 1.5.28 has, so "newer" is not "a superset".
    pub const READ: [ModuleVersion; 8] = [
        ModuleVersion::V1_0,
        ModuleVersion::V1_5,
        ModuleVersion::V1_5_05,
        ModuleVersion::V1_5_06,
        ModuleVersion::V1_5_28,
        ModuleVersion::V1_5_32,
        ModuleVersion::V2_0_08,
        ModuleVersion::V2_0_18,
    ];

    /// Parses `"X.Y.ZZ"` (or `"X.Y.Z"`); `None` for anything else.
    pub fn parse(text: &str) -> Option<ModuleVersion> {
        let mut parts = text.trim().split('.');
        let major = parts.next()?.parse().ok()?;
        let minor = parts.next()?.parse().ok()?;
        let update = parts.next()?.parse().ok()?;
        if parts.next().is_some() {
            return None;
        }
        Some(ModuleVersion::new(major, minor, update))
    }

    /// The version family the README's coverage tables use: `"1.0"`, `"1.5.0x"`,
    /// `"1.5.2x/3x"` or `"2.0"`.
    pub const fn family(self) -> &'static str {
        match (self.major, self.minor, self.update) {
            (1, 0, _) => "1.0",
            (1, 5, 0..=9) => "1.5.0x",
            (1, 5, _) => "1.5.2x/3x",
            _ => "2.0",
        }
    }
}

impl fmt::Display for ModuleVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{:02}", self.major, self.minor, self.update)
    }
}

/// Which thunk a call goes through.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CallKind {
    /// SEAMCALL, host to module: every host leaf except TDH.VP.ENTER.
    Seamcall,
    /// SEAMCALL for TDH.VP.ENTER: the thunk clears every scratch register afterwards, since
    /// they hold the TD's values.
    SeamcallScrub,
    /// TDCALL, guest to module: every guest leaf except TDG.VP.VMCALL.
    Tdcall,
    /// TDCALL leaf 0, TDG.VP.VMCALL, guest to VMM: the thunk clears every scratch register
    /// afterwards, since they hold the VMM's values.
    Tdvmcall,
}

impl CallKind {
    /// Whether the instruction is TDCALL (guest side) rather than SEAMCALL (host side).
    pub const fn is_tdcall(self) -> bool {
        matches!(self, CallKind::Tdcall | CallKind::Tdvmcall)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_display_family() {
        assert_eq!(ModuleVersion::parse("2.0.18"), Some(ModuleVersion::V2_0_18));
        assert_eq!(ModuleVersion::parse("1.5.6"), Some(ModuleVersion::V1_5_06));
        assert_eq!(ModuleVersion::parse("1.5"), None);
        assert_eq!(ModuleVersion::parse("1.5.x"), None);
        assert_eq!(ModuleVersion::V1_5_06.to_string(), "1.5.06");
        let families: [&str; 8] = ModuleVersion::READ.map(ModuleVersion::family);
        assert_eq!(
            families,
            ["1.0", "1.5.0x", "1.5.0x", "1.5.0x", "1.5.2x/3x", "1.5.2x/3x", "2.0", "2.0"]
        );
    }
}
