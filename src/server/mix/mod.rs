//! The learned best mix (issue 18): what the backend counts of its sends and of the
//! journeys' splits, and what it learns from that and publishes into the bundle.
//!
//! - [`count`]: exposures — a send the server's engine decided, or a run's split
//!   assignment (a variant, or the holdout) — and, within the journey's conversion
//!   window, their conversions; tallied with the state writes, in the same commit.
//! - [`fit`]: pure math over those counts: Beta posteriors, the learned value of each
//!   send, and an adaptive split's shares (probability each variant is best).
//! - [`job`]: the counts read from storage, fitted, published as a new bundle version
//!   (data only), on a schedule (`scheduled_jobs`) and by `waymark fit mix`.

pub mod count;
pub mod fit;
pub mod job;

pub use count::MixTally;
pub use fit::{fit, Counts, MixFit, MixSettings};
