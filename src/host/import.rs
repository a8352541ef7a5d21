//! TODO chapter
