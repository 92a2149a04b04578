//! Checks of the bundle's global `policy`: the intent model, frequency caps, cross-channel
//! suppression, the session timeout and assumed consent.

use crate::intent::IntentModel;
use crate::journey::compiled::{Cap, CapPeriod, Channel, Policy};
use crate::journey::model::{CapSource, PolicySource};

use super::{Checker, JourneyErrorKind};

impl Checker<'_> {
    /// The bundle's global policy, its absent fields filled with the defaults.
    pub(super) fn policy(&mut self, src: &PolicySource) -> Option<Policy> {
        let intent = match IntentModel::from_source(src.intent.as_ref()) {
            Ok(model) => Some(model),
            Err(e) => {
                let inner_path = e.path();
                let inner = inner_path.trim();
                let at = if inner.is_empty() {
                    "/policy/intent".to_owned()
                } else if inner.starts_with('/') {
                    format!("/policy/intent{inner}")
                } else {
                    format!("/policy/intent/{inner}")
                };
                self.err(at, JourneyErrorKind::BadIntent { message: e.to_string() });
                None
            }
        };
        let before = self.errors.len();
        let caps: Option<Vec<Cap>> = src.caps.as_ref().map(|caps| {
            let compiled: Vec<Option<Cap>> =
                caps.iter().enumerate().map(|(i, c)| self.cap(&format!("/policy/caps/{i}"), c)).collect();
            compiled.into_iter().flatten().collect()
        });
        let mut window = None;
        let mut suppresses = None;
        let mut same_journey_only = false;
        if let Some(s) = &src.suppression {
            if let Some(text) = &s.window {
                window = self.duration("/policy/suppression/window".into(), "suppression window", text);
            }
            if let Some(names) = &s.suppresses {
                suppresses = self.channel_set("/policy/suppression/suppresses", names);
            }
            match s.scope.as_deref() {
                None | Some("any") => {}
                Some("journey") => same_journey_only = true,
                Some(other) => self.err(
                    "/policy/suppression/scope",
                    JourneyErrorKind::BadSuppressionScope { found: other.to_owned() },
                ),
            }
        }
        let session_timeout = src
            .session_timeout
            .as_ref()
            .and_then(|text| self.duration("/policy/session_timeout".into(), "session_timeout", text));
        let assume_consent = self.channel_set("/policy/assume_consent", &src.assume_consent);
        if self.errors.len() != before {
            return None;
        }
        let mut policy = Policy::with_defaults(intent?);
        if let Some(caps) = caps {
            policy.caps = caps;
        }
        if let Some(window) = window {
            policy.suppression_window = window;
        }
        if let Some(set) = suppresses {
            policy.suppresses = set;
        }
        policy.suppression_same_journey_only = same_journey_only;
        if let Some(timeout) = session_timeout {
            policy.session_timeout = timeout;
        }
        if let Some(set) = assume_consent {
            policy.assume_consent = set;
        }
        policy.seed = src.seed.unwrap_or(0);
        Some(policy)
    }

    /// One frequency cap: a channel (or `any`), a maximum and a period.
    fn cap(&mut self, path: &str, src: &CapSource) -> Option<Cap> {
        let channel = if src.channel == "any" {
            Some(None)
        } else {
            let found = Channel::parse(&src.channel).map(Some);
            if found.is_none() {
                self.err(
                    format!("{path}/channel"),
                    JourneyErrorKind::UnknownChannel {
                        found: src.channel.clone(),
                        allowed: "onsite, inapp, email, sms, push, ads or \"any\" (all channels together)",
                    },
                );
            }
            found
        };
        if src.max == 0 {
            self.err(
                format!("{path}/max"),
                JourneyErrorKind::BadCap {
                    message: "cap max is 0: write 1 or more (to turn a channel off, leave it out of consent instead)"
                        .into(),
                },
            );
        }
        let per = if src.per == "session" {
            Some(CapPeriod::Session)
        } else {
            self.duration(format!("{path}/per"), "cap period", &src.per).map(CapPeriod::Window)
        };
        let cap = Cap { channel: channel?, max: src.max, per: per?, hard: src.hard };
        (src.max > 0).then_some(cap)
    }
}
