//! Graph checks over a journey's steps: every step reachable from the start, no loop
//! without a wait, and every path ending in an exit step.

use std::collections::{BTreeSet, VecDeque};

use crate::journey::model::JourneySource;

use super::steps::StepDraft;
use super::{Checker, JourneyErrorKind};

impl Checker<'_> {
    /// Reports unreachable steps, loops without a wait and steps from which no path
    /// reaches an exit; run only when every step reference resolved.
    pub(super) fn graph_checks(&mut self, path: &str, src: &JourneySource, start: usize, drafts: &[StepDraft]) {
        let name = |i: usize| src.steps.get(i).map_or("?", |s| s.id.as_str());
        let step_path = |i: usize| format!("{path}/steps/{i}");
        // Reachability from the start.
        let mut reached = vec![false; drafts.len()];
        let mut queue = VecDeque::from([start]);
        while let Some(i) = queue.pop_front() {
            match reached.get_mut(i) {
                Some(seen) if !*seen => *seen = true,
                _ => continue,
            }
            if let Some(d) = drafts.get(i) {
                queue.extend(d.successors.iter().copied());
            }
        }
        for (i, r) in reached.iter().enumerate() {
            if !r {
                self.err(
                    step_path(i),
                    JourneyErrorKind::UnreachableStep { step: name(i).to_owned(), start: name(start).to_owned() },
                );
            }
        }
        // Cycles among steps that do not wait.
        for cycle in cycles_without_wait(drafts) {
            let first = cycle.first().copied().unwrap_or(0);
            let mut names: Vec<String> = cycle.iter().map(|&i| format!("{:?}", name(i))).collect();
            names.push(format!("{:?}", name(first)));
            self.err(step_path(first), JourneyErrorKind::CycleWithoutWait { cycle: names.join(" → ") });
        }
        // Every reachable step must be able to reach an exit. Steps that fall off the
        // end were reported already and count as ends here.
        let mut reaches_exit: Vec<bool> =
            drafts.iter().map(|d| d.is_exit || (d.successors.is_empty() && d.kind.is_none())).collect();
        let mut changed = true;
        while changed {
            changed = false;
            for i in 0..drafts.len() {
                if reaches_exit.get(i).copied().unwrap_or(true) {
                    continue;
                }
                let any = drafts
                    .get(i)
                    .is_some_and(|d| d.successors.iter().any(|&s| reaches_exit.get(s).copied().unwrap_or(false)));
                if any {
                    if let Some(flag) = reaches_exit.get_mut(i) {
                        *flag = true;
                        changed = true;
                    }
                }
            }
        }
        let stuck: Vec<usize> = (0..drafts.len())
            .filter(|&i| reached.get(i) == Some(&true) && reaches_exit.get(i) == Some(&false))
            .collect();
        if let Some(&first) = stuck.first() {
            let steps = stuck.iter().map(|&i| format!("{:?}", name(i))).collect::<Vec<_>>().join(", ");
            self.err(step_path(first), JourneyErrorKind::NoExit { steps });
        }
    }
}

/// Each distinct cycle (as step indices, in order) among steps that do not wait.
fn cycles_without_wait(drafts: &[StepDraft]) -> Vec<Vec<usize>> {
    // Iterative DFS over the subgraph of non-waiting steps; a back edge closes a cycle.
    const WHITE: u8 = 0;
    const GREY: u8 = 1;
    const BLACK: u8 = 2;
    let waits = |i: usize| drafts.get(i).is_none_or(|d| d.waits);
    let mut color = vec![WHITE; drafts.len()];
    let mut found: Vec<Vec<usize>> = Vec::new();
    let mut seen_sets: BTreeSet<Vec<usize>> = BTreeSet::new();
    for root in 0..drafts.len() {
        if waits(root) || color.get(root) != Some(&WHITE) {
            continue;
        }
        // Stack of (node, next successor position).
        let mut stack: Vec<(usize, usize)> = vec![(root, 0)];
        if let Some(c) = color.get_mut(root) {
            *c = GREY;
        }
        while let Some(top) = stack.last_mut() {
            let node = top.0;
            let succ = drafts.get(node).and_then(|d| d.successors.get(top.1)).copied();
            top.1 += 1;
            match succ {
                None => {
                    if let Some(c) = color.get_mut(node) {
                        *c = BLACK;
                    }
                    stack.pop();
                }
                Some(next) if waits(next) => {}
                Some(next) => match color.get(next).copied() {
                    Some(WHITE) => {
                        if let Some(c) = color.get_mut(next) {
                            *c = GREY;
                        }
                        stack.push((next, 0));
                    }
                    Some(GREY) => {
                        let from = stack.iter().position(|&(n, _)| n == next).unwrap_or(0);
                        let cycle: Vec<usize> = stack.iter().skip(from).map(|&(n, _)| n).collect();
                        let mut key = cycle.clone();
                        key.sort_unstable();
                        if seen_sets.insert(key) {
                            found.push(cycle);
                        }
                    }
                    _ => {}
                },
            }
        }
    }
    found
}
