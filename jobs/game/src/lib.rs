//! The Energenies game (issue 6), as pure functions of a household's daily history.
//!
//! - [`day::HouseholdDay`]: one household's day — its own meter data plus the neighbour
//!   comparison, which comes only from private aggregates (the region's total / contributors and
//!   the region's private histogram), never from another household's reading.
//! - [`rules::RULES`]: every point rule in one table, with its reason text.
//! - [`engine::events_for_day`]: the events a day earns (points, badges, level-ups, stage changes,
//!   challenges). Recomputing a day gives the same events with the same keys, so a
//!   ReplacingMergeTree keeps exactly one of each.
//! - [`metrics::household_day`]: a day from the household's own readings and the region's
//!   private aggregates only.
//! - [`journey::Stage`]: aware -> saver -> shifter -> producer -> hero, with entry criteria.

pub mod day;
pub mod engine;
pub mod journey;
pub mod metrics;
pub mod rules;

pub use day::HouseholdDay;
pub use engine::{GameEvent, events_for_day, level_of};
pub use journey::Stage;
