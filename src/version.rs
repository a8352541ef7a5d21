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

    /// The read version whose tables stand in for `self`: `self` when it was read, else the
    /// newest read version of the same major.minor that is not newer (1.0.x reads as 1.0.3,
    /// 1.5.00 to 1.5.04 as 1.5.01, 1.5.06 to 1.5.27 as 1.5.06, 2.0.00 to 2.0.17 as 2.0.08,
    /// anything after 2.0.18 as 2.0.18). For a version that was not read this is a guess;
    /// [`ModuleVersion::was_read`] says which.
    pub const fn nearest_read(self) -> ModuleVersion {
        match (self.major, self.minor, self.update) {
            (0, _, _) | (1, 0..=4, _) => ModuleVersion::V1_0,
            (1, 5, 0..=4) => ModuleVersion::V1_5,
            (1, 5, 5) => ModuleVersion::V1_5_05,
            (1, 5, 6..=27) => ModuleVersion::V1_5_06,
            (1, 5, 28..=31) => ModuleVersion::V1_5_28,
            (1, _, _) => ModuleVersion::V1_5_32,
            (2, 0, 0..=17) => ModuleVersion::V2_0_08,
            _ => ModuleVersion::V2_0_18,
        }
    }

    /// Whether the module source of exactly this version was read.
    pub const fn was_read(self) -> bool {
        self.index().is_some()
    }

    /// The position of this version in [`ModuleVersion::READ`].
    const fn index(self) -> Option<u8> {
        let mut i = 0;
        while i < ModuleVersion::READ.len() {
            let read = ModuleVersion::READ[i];
            if read.major == self.major && read.minor == self.minor && read.update == self.update {
                return Some(i as u8);
            }
            i += 1;
        }
        None
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

/// A set of the read module versions ([`ModuleVersion::READ`]): which of them have a
/// leaf, a leaf version, a status code or a field.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct ModuleSet(u8);

impl ModuleSet {
    /// No read version.
    pub const NONE: ModuleSet = ModuleSet(0);
    /// Every read version, 1.0.3 to 2.0.18.
    pub const ALL: ModuleSet = ModuleSet(0xFF);

    /// The set of `versions`; a version that was not read is left out.
    pub const fn of(versions: &[ModuleVersion]) -> ModuleSet {
        let mut bits = 0;
        let mut i = 0;
        while i < versions.len() {
            if let Some(index) = versions[i].index() {
                bits |= 1 << index;
            }
            i += 1;
        }
        ModuleSet(bits)
    }

    /// The read versions from `first` on, in [`ModuleVersion::READ`] order (which puts
    /// 2.0.08 after 1.5.32: use [`ModuleSet::without`] for what a branch lacks).
    pub const fn from(first: ModuleVersion) -> ModuleSet {
        match first.index() {
            Some(index) => ModuleSet(0xFF << index),
            None => ModuleSet::NONE,
        }
    }

    /// This set without `version`.
    pub const fn without(self, version: ModuleVersion) -> ModuleSet {
        match version.index() {
            Some(index) => ModuleSet(self.0 & !(1 << index)),
            None => self,
        }
    }

    /// Whether `version` (a read version) is in the set; `false` for a version not read.
    pub const fn contains(self, version: ModuleVersion) -> bool {
        match version.index() {
            Some(index) => self.0 & (1 << index) != 0,
            None => false,
        }
    }

    /// Whether no read version is in the set.
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// Whether every read version is in the set. Every module version is looked up as a
    /// read one ([`ModuleVersion::nearest_read`]), so such a set holds every module.
    pub const fn is_all(self) -> bool {
        self.0 == ModuleSet::ALL.0
    }

    /// The oldest version in the set.
    pub const fn first(self) -> Option<ModuleVersion> {
        if self.0 == 0 {
            None
        } else {
            Some(ModuleVersion::READ[self.0.trailing_zeros() as usize])
        }
    }

    /// The versions in the set, oldest first.
    pub fn iter(self) -> impl Iterator<Item = ModuleVersion> {
        ModuleVersion::READ
            .into_iter()
            .enumerate()
            .filter(move |(index, _)| self.0 & (1 << index) != 0)
            .map(|(_, version)| version)
    }
}

impl fmt::Debug for ModuleSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.iter()).finish()
    }
}

/// Which thunk a call goes through.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
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

    #[cfg(feature = "std")]
    #[test]
    fn display() {
        assert_eq!(std::format!("{}", ModuleVersion::V1_5_06), "1.5.06");
        assert_eq!(std::format!("{}", ModuleVersion::V2_0_18), "2.0.18");
    }

    #[test]
    fn sets_and_nearest() {
        let dpamt = ModuleSet::from(ModuleVersion::V1_5_28);
        assert!(dpamt.contains(ModuleVersion::V2_0_08));
        assert!(!dpamt.contains(ModuleVersion::V1_5_06));
        assert!(!dpamt.contains(ModuleVersion::new(2, 0, 12)));
        assert_eq!(dpamt.first(), Some(ModuleVersion::V1_5_28));
        let no_2008 = dpamt.without(ModuleVersion::V2_0_08);
        assert_eq!(no_2008.iter().count(), 3);
        assert_eq!(ModuleSet::NONE.first(), None);
        assert_eq!(
            ModuleSet::of(&[ModuleVersion::V1_0, ModuleVersion::new(9, 9, 9)]),
            ModuleSet::from(ModuleVersion::V1_0)
                .without(ModuleVersion::V1_5)
                .without(ModuleVersion::V1_5_05)
                .without(ModuleVersion::V1_5_06)
                .without(ModuleVersion::V1_5_28)
                .without(ModuleVersion::V1_5_32)
                .without(ModuleVersion::V2_0_08)
                .without(ModuleVersion::V2_0_18)
        );
        assert_eq!(
            ModuleVersion::new(2, 0, 12).nearest_read(),
            ModuleVersion::V2_0_08
        );
        assert_eq!(
            ModuleVersion::new(1, 5, 16).nearest_read(),
            ModuleVersion::V1_5_06
        );
        assert_eq!(
            ModuleVersion::V1_5_32.nearest_read(),
            ModuleVersion::V1_5_32
        );
        assert!(!ModuleVersion::new(2, 0, 12).was_read());
    }

    #[test]
    fn parse_display_family() {
        assert_eq!(ModuleVersion::parse("2.0.18"), Some(ModuleVersion::V2_0_18));
        assert_eq!(ModuleVersion::parse("1.5.6"), Some(ModuleVersion::V1_5_06));
        assert_eq!(ModuleVersion::parse("1.5"), None);
        assert_eq!(ModuleVersion::parse("1.5.x"), None);
        let families: [&str; 8] = ModuleVersion::READ.map(ModuleVersion::family);
        assert_eq!(
            families,
            [
                "1.0",
                "1.5.0x",
                "1.5.0x",
                "1.5.0x",
                "1.5.2x/3x",
                "1.5.2x/3x",
                "2.0",
                "2.0"
            ]
        );
    }
}
