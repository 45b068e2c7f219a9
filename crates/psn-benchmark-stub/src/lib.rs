//! Temporary stand-in for `psn-benchmark` (branch bench-core) so the pages compile on bench-ui;
//! it is deleted when main carries the real crate.

/// CSV exports.
pub mod export {
    use psn_api::{BenchmarkReport, ReturnList};

    /// A report as CSV (the real crate writes every figure).
    pub fn report_csv(report: &BenchmarkReport) -> String {
        format!("process,year\n{},{}\n", report.process.id, report.year)
    }

    /// Returns as CSV (the real crate writes every column).
    pub fn returns_csv(list: &ReturnList) -> String {
        let mut out = String::from("member,process,year,version\n");
        for r in &list.returns {
            out.push_str(&format!("{},{},{},{}\n", r.member, r.process, r.year, r.version));
        }
        out
    }
}
