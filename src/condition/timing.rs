//! When a condition's answer can next change by the clock alone: its time operators
//! (`$within`, `$olderThan`, `$anniversaryWithin`) turn true or false at instants fixed by
//! the values they test. A backend that stores shoppers wakes each one then to evaluate
//! its audiences again — a birthday on the day — instead of evaluating every stored
//! shopper every day. Operators on array elements (`$elemMatch`, `$all`, `$size`) are
//! not followed.

use super::eval::{date_of, timestamp_of};
use super::{Condition, Node, Op, Scope, Test};
use crate::time::{next_anniversary, Duration, Timestamp};
use crate::value::Value;

impl Condition {
    /// The earliest instant after `now` at which one of the condition's time operators,
    /// applied to the values `scope` holds, changes its answer; None when there is none.
    pub fn next_time_change(&self, scope: &dyn Scope, now: Timestamp) -> Option<Timestamp> {
        let mut next = None;
        node(&self.root, scope, now, &mut next);
        next
    }
}

fn node(n: &Node, scope: &dyn Scope, now: Timestamp, next: &mut Option<Timestamp>) {
    match n {
        Node::All(children) | Node::Any(children) | Node::Nor(children) => {
            children.iter().for_each(|c| node(c, scope, now, next));
        }
        Node::Not(child) => node(child, scope, now, next),
        Node::Field(field) => {
            if let Some(value) = scope.lookup(&field.path) {
                test(&field.test, &value, now, next);
            }
        }
    }
}

fn test(t: &Test, value: &Value, now: Timestamp, next: &mut Option<Timestamp>) {
    let Test::Ops(ops) = t else { return };
    for op in ops {
        match op {
            Op::Within(d) => {
                if let Some(t) = timestamp_of(value).map(Timestamp) {
                    // True from t until t + d.
                    consider(next, now, Some(t));
                    consider(next, now, t.0.checked_add(d.0).map(|end| Timestamp(end.saturating_add(1))));
                }
            }
            Op::OlderThan(d) => {
                consider(next, now, timestamp_of(value).and_then(|t| t.checked_add(d.0)).map(Timestamp))
            }
            Op::AnniversaryWithin(d) => {
                if let Some((_, month, day)) = date_of(value) {
                    let start = next_anniversary(now, month, day);
                    consider(next, now, start);
                    let current = crate::time::last_anniversary(now, month, day);
                    consider(next, now, current.map(|s| s.plus(Duration(d.0))));
                }
            }
            Op::Not(inner) => test(inner, value, now, next),
            _ => {}
        }
    }
}

fn consider(next: &mut Option<Timestamp>, now: Timestamp, candidate: Option<Timestamp>) {
    if let Some(t) = candidate.filter(|t| *t > now) {
        *next = Some(next.map_or(t, |n| n.min(t)));
    }
}
