//! What the bench binaries share: repeating an interleaved comparison in fresh processes.
//!
//! On the machine measured here (BENCHMARKS.md) the cost of the same few-nanosecond call
//! changed by up to 2x from one process to the next (TDH.VP.ENTER's raw loopback thunk:
//! 7.7 ns in four runs of the binary, 13.3-15.6 ns in two, 2026-12-04), while within one
//! process it held steady, at every stack offset tried. The address-space layout (code,
//! heap and stack placed at random by the kernel) decides it: a figure from one process is
//! one layout's figure. The interleaved comparisons therefore run in [`PROCESSES`] child
//! processes, each with its own layout, and report a trimmed mean over them
//! ([`Records::summary`]) with the range.

use std::collections::BTreeMap;
use std::process::Command;

/// How many child processes measure an interleaved comparison (odd: the median is one of
/// them).
pub const PROCESSES: usize = 31;

/// Set in a child's environment: the child measures once and prints records.
const CHILD: &str = "TDXCALL_BENCH_CHILD";

/// The prefix of a record line a child prints.
const RECORD: &str = "record";

/// Whether this process is a child started by [`in_processes`]: it should measure once and
/// [`record`] what it measured.
pub fn is_child() -> bool {
    std::env::var_os(CHILD).is_some()
}

/// Prints one measured record (a child's output): a name and its values.
pub fn record(name: &str, values: &[f64]) {
    let values: Vec<String> = values.iter().map(|value| format!("{value:e}")).collect();
    println!("{RECORD}\t{name}\t{}", values.join("\t"));
}

/// What the children measured: per record name, per value, every child's value.
pub struct Records {
    /// Record name -> value index -> one value per child, in child order.
    pub by_name: BTreeMap<String, Vec<Vec<f64>>>,
    /// How many children reported.
    pub processes: usize,
}

impl Records {
    /// Over the children, value `index` of record `name`: its trimmed mean (the mean of the
    /// middle 80%, the lowest and highest tenth dropped), its min and its max.
    ///
    /// Not the median: the per-process figures are often two clusters a nanosecond or more
    /// apart (two kinds of layout), and with the clusters near half and half the median of
    /// 31 processes jumped between them from one run to the next (TDG.VM.RD on a kept front:
    /// +1.22, −0.24 and +0.50 ns in three runs of one binary, 2026-12-04). The trimmed mean
    /// weighs the clusters by their share and drops the stray process.
    pub fn summary(&self, name: &str, index: usize) -> (f64, f64, f64) {
        let mut values = self.by_name[name][index].clone();
        values.sort_unstable_by(f64::total_cmp);
        let trim = values.len() / 10;
        let middle = &values[trim..values.len() - trim];
        let mean = middle.iter().sum::<f64>() / middle.len() as f64;
        (mean, values[0], values[values.len() - 1])
    }
}

/// Runs this bench binary again in `processes` children (same arguments; the child sees
/// [`is_child`]) one after the other, and collects their [`record`]s. Panics if a child
/// fails or reports records the others did not.
pub fn in_processes(processes: usize) -> Records {
    let exe = std::env::current_exe().expect("the bench binary's path");
    let mut by_name: BTreeMap<String, Vec<Vec<f64>>> = BTreeMap::new();
    for child in 0..processes {
        let output = Command::new(&exe)
            .args(std::env::args_os().skip(1))
            .env(CHILD, "1")
            .output()
            .expect("start a measuring child");
        assert!(
            output.status.success(),
            "measuring child {child} failed: {}\n{}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
        for line in String::from_utf8_lossy(&output.stdout).lines() {
            let mut fields = line.split('\t');
            if fields.next() != Some(RECORD) {
                continue;
            }
            let name = fields.next().expect("a record name").to_owned();
            let values: Vec<f64> = fields
                .map(|field| field.parse().expect("a record value"))
                .collect();
            let entry = by_name
                .entry(name)
                .or_insert_with(|| vec![Vec::new(); values.len()]);
            assert_eq!(entry.len(), values.len(), "record shapes differ");
            for (column, value) in entry.iter_mut().zip(values) {
                column.push(value);
            }
        }
    }
    for (name, columns) in &by_name {
        assert!(
            columns.iter().all(|column| column.len() == processes),
            "record {name} is missing from some children"
        );
    }
    Records { by_name, processes }
}
