//! Concurrency limits (`concurrency:` on a workflow): which runs may start now, and which wait
//! as `queued`.
//!
//! A run holds a slot of its workflow while it is pending or running. Which queued runs
//! start when slots free is decided here, the same way on every backend (each backend makes
//! the count and the decision one atomic step): each user's runs start in the order they
//! were created, and among users the one with the fewest runs holding slots goes first — so
//! a user who queued thousands of runs takes at most `per_user` slots, and never stands in
//! front of another user's first run.

use std::collections::HashMap;

use super::RunStatus;

/// The limits of one workflow's runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RunLimits {
    /// Runs of one user holding slots at once (operators' runs count as one user's).
    pub per_user: Option<u32>,
    /// Runs of the workflow holding slots at once, whoever started them.
    pub per_workflow: Option<u32>,
}

impl RunLimits {
    pub fn is_limited(&self) -> bool {
        self.per_user.is_some() || self.per_workflow.is_some()
    }
}

/// A run of a limited workflow as admission sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Contender {
    pub run_id: String,
    pub owner: Option<String>,
    pub status: RunStatus,
}

/// Of `contenders` (the workflow's unfinished runs, oldest first), the queued ones that may
/// start now, in the order they should.
pub fn admit(limits: &RunLimits, contenders: &[Contender]) -> Vec<String> {
    let mut holding: HashMap<Option<&str>, u32> = HashMap::new();
    let mut total = 0u32;
    for c in contenders {
        if matches!(c.status, RunStatus::Pending | RunStatus::Running) {
            *holding.entry(c.owner.as_deref()).or_default() += 1;
            total += 1;
        }
    }
    let mut waiting: Vec<&Contender> = contenders
        .iter()
        .filter(|c| c.status == RunStatus::Queued)
        .collect();
    let mut admitted = Vec::new();
    loop {
        if limits.per_workflow.is_some_and(|limit| total >= limit) {
            break;
        }
        // Each user's oldest waiting run is its candidate; the user holding fewest slots
        // wins, then the older run.
        let mut best: Option<(usize, u32)> = None;
        let mut seen: Vec<Option<&str>> = Vec::new();
        for (i, c) in waiting.iter().enumerate() {
            let owner = c.owner.as_deref();
            if seen.contains(&owner) {
                continue;
            }
            seen.push(owner);
            let held = holding.get(&owner).copied().unwrap_or(0);
            if limits.per_user.is_some_and(|limit| held >= limit) {
                continue;
            }
            if best.is_none_or(|(_, fewest)| held < fewest) {
                best = Some((i, held));
            }
        }
        let Some((i, _)) = best else { break };
        let chosen = waiting.remove(i);
        *holding.entry(chosen.owner.as_deref()).or_default() += 1;
        total += 1;
        admitted.push(chosen.run_id.clone());
    }
    admitted
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(id: &str, owner: &str, status: RunStatus) -> Contender {
        Contender {
            run_id: id.into(),
            owner: Some(owner.into()),
            status,
        }
    }

    #[test]
    fn a_user_at_their_limit_waits_and_starts_in_order_when_a_slot_frees() {
        let limits = RunLimits {
            per_user: Some(2),
            per_workflow: None,
        };
        let mut runs = vec![
            c("1", "ada", RunStatus::Running),
            c("2", "ada", RunStatus::Running),
            c("3", "ada", RunStatus::Queued),
            c("4", "ada", RunStatus::Queued),
        ];
        assert!(admit(&limits, &runs).is_empty());
        runs.remove(0); // run 1 ended
        assert_eq!(admit(&limits, &runs), vec!["3"]);
    }

    #[test]
    fn a_user_with_thousands_queued_does_not_starve_another() {
        let limits = RunLimits {
            per_user: Some(2),
            per_workflow: Some(3),
        };
        let mut runs = vec![
            c("0001", "ada", RunStatus::Running),
            c("0002", "ada", RunStatus::Running),
            c("0003", "bob", RunStatus::Running),
        ];
        runs.extend((4..2000).map(|i| c(&format!("{i:04}"), "ada", RunStatus::Queued)));
        runs.push(c("2000", "bob", RunStatus::Queued));
        runs.push(c("2001", "cyd", RunStatus::Queued));
        assert!(admit(&limits, &runs).is_empty(), "the workflow is full");
        // One of ada's ends: ada holds 1, bob 1, cyd 0: cyd's run goes first.
        runs.remove(0);
        assert_eq!(admit(&limits, &runs), vec!["2001"]);
        runs.iter_mut().find(|r| r.run_id == "2001").unwrap().status = RunStatus::Pending;
        // bob's ends: ada's next and bob's next could take the slot; bob holds none, ada
        // one: bob's, though ada's is older.
        runs.retain(|r| r.run_id != "0003");
        assert_eq!(admit(&limits, &runs), vec!["2000"]);
    }

    #[test]
    fn without_a_user_limit_the_workflow_limit_admits_oldest_first_across_users() {
        let limits = RunLimits {
            per_user: None,
            per_workflow: Some(2),
        };
        let runs = vec![
            c("1", "ada", RunStatus::Queued),
            c("2", "ada", RunStatus::Queued),
            c("3", "bob", RunStatus::Queued),
        ];
        // Ties between users with no slots go to the older run.
        assert_eq!(admit(&limits, &runs), vec!["1", "3"]);
    }
}
