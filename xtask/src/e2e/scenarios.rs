//! The registry of end-to-end scenarios: what a scenario is, and every one of
//! them in run order, area by area. Each area is a module named for its name
//! prefix: `seed.rs` (`get/`, `types/`, `security/`, `host/`, `files/`),
//! `upload.rs`, `methods.rs`, `protocol.rs`, `conn.rs`, `pool.rs`, `log.rs`,
//! `cli.rs`; the external tools' scenarios (`promtool/`, `browser/`, whose
//! `browser/site_renders` is in `site.rs`, `balancer/`); `semantics.rs` (file
//! semantics and `redbot/`), `slow.rs` (`slow/`, `soak/`) and `tls.rs` (`tls/`,
//! skipped until the server has `--tls-listen`). What they share is in
//! `checks.rs`.
//!
//! Requests whose shape repeats are rows of a table; each row becomes its own
//! scenario. Every seed README example request has a scenario; their names end
//! in `_seed`. Scenarios assert on outcomes; where a duration is the behaviour
//! under test (a timeout), they measure a lower bound on an observed event and
//! never sleep to synchronise. Every wait is bounded by a socket timeout or a
//! counted loop.

use super::checks::{StatusCase, status_case};
use super::{Ctx, balancer, browser, promtool, site};

/// What a scenario returns: `Err` carries the reason shown after `FAIL name:`.
pub type Outcome = Result<(), String>;

/// One named check, run against the lazily started servers in [`Ctx`].
pub struct Scenario {
    /// Unique name; `cargo xtask e2e FILTER` keeps names containing FILTER.
    pub name: String,
    /// The check; `Err` carries the reason shown after `FAIL name:`.
    pub run: Box<dyn Fn(&Ctx) -> Outcome>,
}

/// A scenario written as one function.
pub(super) type Check = fn(&Ctx) -> Outcome;

/// Scenarios that drive an external tool against the server, one function each.
const TOOLS: &[(&str, Check)] = &[
    ("promtool/check_metrics", promtool::check_metrics),
    ("browser/images_decode", browser::images_decode),
    ("browser/site_renders", site::site_renders),
    ("balancer/nginx_failover", balancer::nginx_failover),
];

/// Returns every scenario in the order they run.
pub fn all() -> Vec<Scenario> {
    let tools = TOOLS.iter().map(|&(name, run)| scenario(name, run));
    super::seed::all()
        .into_iter()
        .chain(super::upload::all())
        .chain(super::methods::all())
        .chain(super::protocol::all())
        .chain(super::conn::all())
        .chain(super::pool::all())
        .chain(super::log::all())
        .chain(super::cli::all())
        .chain(tools)
        .chain(super::semantics::all())
        .chain(super::slow::all())
        .chain(super::tls::all())
        .collect()
}

/// Makes the scenarios of an area's two tables: one per row of `statuses` (a
/// literal request and the status it must get), then one per entry of `checks`.
pub(super) fn tables(
    statuses: &'static [StatusCase],
    checks: &'static [(&'static str, Check)],
) -> Vec<Scenario> {
    let statuses = statuses
        .iter()
        .map(|case| scenario(case.name, move |ctx| status_case(ctx, case)));
    let checks = checks.iter().map(|&(name, run)| scenario(name, run));
    statuses.chain(checks).collect()
}

/// Makes a scenario named `name` from a function.
pub(super) fn scenario(name: &str, run: impl Fn(&Ctx) -> Outcome + 'static) -> Scenario {
    Scenario {
        name: name.to_string(),
        run: Box::new(run),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn scenario_names_are_unique_and_grouped() {
        let names: Vec<String> = all().into_iter().map(|s| s.name).collect();
        let unique: HashSet<&String> = names.iter().collect();
        assert_eq!(unique.len(), names.len(), "duplicate scenario names");
        for name in &names {
            let (group, rest) = name.split_once('/').expect("group/name");
            assert!(!group.is_empty() && !rest.is_empty(), "{name}");
        }
    }
}
