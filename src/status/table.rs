//! The macro that turns one declarative table into a code enum and everything derived from it.
//!
//! Each invocation declares its rows once: variant, spec name, value, an info column whose
//! type the invocation chooses, and a one-line description. From them the macro generates
//!
//! - the `#[non_exhaustive]` enum, one variant per row, whose rustdoc carries the spec name,
//!   the value as written in the table and the description;
//! - a `ROWS` array indexed by discriminant, so name, value, description and info are O(1);
//! - `ALL`, `name()`, `value()`, `description()` and `Display` (the spec name).
//!
//! Lookups from a value or a name live next to each table, because what "matching" means
//! (bits 63:32 or all 64 bits, which module release) differs between tables.

/// One row of a code table.
pub(crate) struct Row<I: 'static> {
    /// The spec name, e.g. `TDX_OPERAND_INVALID`.
    pub(crate) name: &'static str,
    /// The full 64-bit value.
    pub(crate) value: u64,
    /// One line in our own words.
    pub(crate) description: &'static str,
    /// The table's extra column.
    pub(crate) info: I,
}

macro_rules! code_table {
    (
        $(#[$meta:meta])*
        pub enum $Enum:ident, rows $ROWS:ident: $Info:ty {
            $(
                $Variant:ident = $name:literal, $value:expr, $info:expr, $desc:literal;
            )*
        }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[non_exhaustive]
        pub enum $Enum {
            $(
                #[doc = concat!("`", $name, "`: ", $desc)]
                #[doc = ""]
                #[doc = concat!("Value: `", stringify!($value), "`.")]
                #[doc(alias = $name)]
                $Variant,
            )*
        }

        const $ROWS: &[$crate::status::table::Row<$Info>] = &[
            $(
                $crate::status::table::Row {
                    name: $name,
                    value: $value,
                    description: $desc,
                    info: $info,
                },
            )*
        ];

        impl $Enum {
            /// Every row of the table, in table order.
            pub const ALL: &'static [$Enum] = &[$($Enum::$Variant),*];

            #[inline]
            const fn row(self) -> &'static $crate::status::table::Row<$Info> {
                &$ROWS[self as usize]
            }

            /// The spec name, e.g. `TDX_OPERAND_INVALID`.
            #[inline]
            pub const fn name(self) -> &'static str {
                self.row().name
            }

            /// The full 64-bit value the table declares.
            #[inline]
            pub const fn value(self) -> u64 {
                self.row().value
            }

            /// What the code means, in one line.
            #[inline]
            pub const fn description(self) -> &'static str {
                self.row().description
            }
        }

        impl core::fmt::Display for $Enum {
            fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                f.write_str(self.name())
            }
        }
    };
}

pub(crate) use code_table;
