//! Choosing the best acceptable offer, deterministically.
//!
//! An offer is acceptable when it passes every check below. A rejected offer is counted once,
//! under the FIRST check it fails, in this order:
//!
//! 1. `expired`: `now + EXPIRY_MARGIN_MS >= expires_at` (an offer about to expire cannot be
//!    re-priced and booked in time);
//! 2. `currency_mismatch`: not in the trip's currency (never converted or compared);
//! 3. `over_budget`: `total_minor > max_total_minor`;
//! 4. `cabin_mismatch`: cabin differs from the trip's;
//! 5. `too_many_stops`: `stops > 0` on a nonstop-only trip.
//!
//! Among acceptable offers the best is the lowest total, then the shortest duration (unknown
//! durations last), then the earliest departure, then the lowest offer id
//! ([`Offer::cmp_rank`]). Offers that tie on all of these are ordered by their remaining fields,
//! so the result never depends on the order the provider listed them in.

use serde::{Deserialize, Serialize};

use crate::money::Currency;
use crate::offer::{Cabin, Offer};
use crate::time::Timestamp;
use crate::trip::{NewTrip, Trip};

/// An offer must stay valid at least this long after `now` to be selected (2 minutes).
pub const EXPIRY_MARGIN_MS: i64 = 2 * 60 * 1000;

/// What the traveller asked for, as far as selection is concerned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Criteria {
    /// Only offers in this currency are compared.
    pub currency: Currency,
    /// Highest acceptable total, in minor units of `currency`.
    pub max_total_minor: i64,
    /// Required cabin.
    pub cabin: Cabin,
    /// Only offers without stops.
    pub nonstop_only: bool,
}

impl Criteria {
    /// The criteria of a stored trip.
    pub fn from_trip(trip: &Trip) -> Self {
        Self {
            currency: trip.currency,
            max_total_minor: trip.max_total_minor,
            cabin: trip.cabin,
            nonstop_only: trip.nonstop_only,
        }
    }

    /// The criteria of a validated, not yet stored, trip request.
    pub fn from_new_trip(trip: &NewTrip) -> Self {
        Self {
            currency: trip.currency,
            max_total_minor: trip.max_total_minor,
            cabin: trip.cabin,
            nonstop_only: trip.nonstop_only,
        }
    }
}

/// Why an offer was not acceptable.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Rejection {
    /// Expired or expiring within [`EXPIRY_MARGIN_MS`].
    Expired,
    /// Priced in another currency.
    CurrencyMismatch,
    /// Above the maximum total.
    OverBudget,
    /// Another cabin.
    CabinMismatch,
    /// Has stops on a nonstop-only trip.
    TooManyStops,
}

impl Rejection {
    /// Stable code, also the key in [`Rejections`].
    pub fn code(self) -> &'static str {
        match self {
            Self::Expired => "expired",
            Self::CurrencyMismatch => "currency_mismatch",
            Self::OverBudget => "over_budget",
            Self::CabinMismatch => "cabin_mismatch",
            Self::TooManyStops => "too_many_stops",
        }
    }
}

/// Rejected offers per reason: `{"expired":0,"currency_mismatch":0,"over_budget":0,
/// "cabin_mismatch":0,"too_many_stops":0}`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct Rejections {
    /// Expired or about to.
    pub expired: u32,
    /// Other currency.
    pub currency_mismatch: u32,
    /// Too expensive.
    pub over_budget: u32,
    /// Other cabin.
    pub cabin_mismatch: u32,
    /// Stops on a nonstop-only trip.
    pub too_many_stops: u32,
}

impl Rejections {
    fn count(&mut self, reason: Rejection) {
        let slot = match reason {
            Rejection::Expired => &mut self.expired,
            Rejection::CurrencyMismatch => &mut self.currency_mismatch,
            Rejection::OverBudget => &mut self.over_budget,
            Rejection::CabinMismatch => &mut self.cabin_mismatch,
            Rejection::TooManyStops => &mut self.too_many_stops,
        };
        *slot = slot.saturating_add(1);
    }

    /// Total rejected offers.
    pub fn total(&self) -> u32 {
        [
            self.expired,
            self.currency_mismatch,
            self.over_budget,
            self.cabin_mismatch,
            self.too_many_stops,
        ]
        .iter()
        .fold(0, |a, b| a.saturating_add(*b))
    }
}

/// Whether the search found something to book.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    /// An acceptable offer was selected.
    OfferSelected,
    /// Nothing met the criteria; see the rejection counts.
    NoAcceptableOffer,
}

/// The outcome of [`select`].
#[derive(Clone, Debug)]
pub struct Selection {
    /// All offers: the acceptable ones first in selection order, then the rejected ones in the
    /// same order.
    pub ranked: Vec<Offer>,
    /// How many of `ranked` (from the front) are acceptable.
    pub acceptable: usize,
    /// Why the others were rejected.
    pub rejections: Rejections,
}

impl Selection {
    /// The best acceptable offer, if any.
    pub fn best(&self) -> Option<&Offer> {
        self.ranked.first().filter(|_| self.acceptable > 0)
    }

    /// [`Decision::OfferSelected`] when there is a best offer.
    pub fn decision(&self) -> Decision {
        if self.acceptable > 0 {
            Decision::OfferSelected
        } else {
            Decision::NoAcceptableOffer
        }
    }
}

/// Checks one offer against the criteria at `now`; the error is the first failing reason.
pub fn check(offer: &Offer, criteria: &Criteria, now: Timestamp) -> Result<(), Rejection> {
    if now.plus_ms(EXPIRY_MARGIN_MS) >= offer.expires_at {
        Err(Rejection::Expired)
    } else if offer.currency != criteria.currency {
        Err(Rejection::CurrencyMismatch)
    } else if offer.total_minor > criteria.max_total_minor {
        Err(Rejection::OverBudget)
    } else if offer.cabin != criteria.cabin {
        Err(Rejection::CabinMismatch)
    } else if criteria.nonstop_only && offer.stops > 0 {
        Err(Rejection::TooManyStops)
    } else {
        Ok(())
    }
}

/// Ranks `offers` against `criteria` at `now`.
pub fn select(offers: Vec<Offer>, criteria: &Criteria, now: Timestamp) -> Selection {
    let (ranked, acceptable, rejections) = rank_by(offers, |o| o, criteria, now);
    Selection {
        ranked,
        acceptable,
        rejections,
    }
}

/// [`select`] over anything that carries an offer (the search ranks offers next to their raw
/// text): the items in selection order, how many from the front are acceptable, and the
/// rejection counts. Same rules, same order.
pub fn rank_by<T>(
    items: Vec<T>,
    offer: impl Fn(&T) -> &Offer,
    criteria: &Criteria,
    now: Timestamp,
) -> (Vec<T>, usize, Rejections) {
    let mut rejections = Rejections::default();
    let (mut ranked, mut rejected): (Vec<T>, Vec<T>) = (Vec::new(), Vec::new());
    for item in items {
        match check(offer(&item), criteria, now) {
            Ok(()) => ranked.push(item),
            Err(reason) => {
                rejections.count(reason);
                rejected.push(item);
            }
        }
    }
    ranked.sort_by(|a, b| offer(a).cmp_rank(offer(b)));
    rejected.sort_by(|a, b| offer(a).cmp_rank(offer(b)));
    let acceptable = ranked.len();
    ranked.append(&mut rejected);
    (ranked, acceptable, rejections)
}

#[cfg(test)]
mod tests;
