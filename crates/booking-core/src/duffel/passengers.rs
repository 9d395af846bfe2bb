//! The order's passengers: pairing the trip's travellers with the offer's passenger ids by type
//! and age, linking each infant to a distinct adult (`infant_passenger_id`), and attaching
//! identity documents when the offer requires them
//! (`reference/contracts-webhooks-setup.md` §6.1, §6.2).
//!
//! Rules, checked before any money moves (the monitor before it begins an attempt, the saga
//! before it authorizes) and again when the order body is built:
//!
//! | rule | error code |
//! | --- | --- |
//! | one traveller per offer passenger, adults to `adult`, children and infants by searched age | `traveller_mismatch` |
//! | at most one infant (`infant_without_seat`) per adult | `too_many_infants` |
//! | documents required: every passenger has one | `identity_document_missing` |
//! | documents required: its type is in the offer's supported list (when the list is given) | `identity_document_unsupported` |
//! | documents required: it does not expire before the last travel date | `identity_document_expired` |
//!
//! Documents are sent only when the offer requires them (data minimisation); the `k`-th infant
//! of the offer is carried by the `k`-th adult.

use std::fmt;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use thiserror::Error;

use super::order::OrderPassenger;

/// Duffel's passenger type of an infant on an adult's lap.
pub const INFANT_WITHOUT_SEAT: &str = "infant_without_seat";
/// Duffel's passenger type of an adult.
pub const ADULT: &str = "adult";

/// An identity document as Duffel's order passenger carries it (`identity_documents[]`).
/// Personal data: `Debug` shows only the type.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdentityDocument {
    /// `passport` (or another type of the offer's `supported_passenger_identity_document_types`).
    #[serde(rename = "type")]
    pub kind: String,
    /// The document number.
    pub unique_identifier: String,
    /// ISO 3166-1 alpha-2 code of the issuing country.
    pub issuing_country_code: String,
    /// Expiry date.
    #[serde(with = "crate::time::iso_date")]
    pub expires_on: NaiveDate,
}

impl fmt::Debug for IdentityDocument {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IdentityDocument")
            .field("type", &self.kind)
            .finish_non_exhaustive()
    }
}

/// One passenger of an offer (no personal data: id, type and the age searched for).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OfferPassenger {
    /// `pas_…`.
    pub id: String,
    /// `adult`, `child` or `infant_without_seat` (absent: `adult` when no age, else by age).
    #[serde(rename = "type", default)]
    pub kind: Option<String>,
    /// The age searched for, when searched by age.
    #[serde(default)]
    pub age: Option<u8>,
}

impl OfferPassenger {
    fn is_adult(&self) -> bool {
        match self.kind.as_deref() {
            Some(kind) => kind == ADULT,
            None => self.age.is_none_or(|age| age >= 18),
        }
    }

    fn is_infant(&self) -> bool {
        match self.kind.as_deref() {
            Some(kind) => kind == INFANT_WITHOUT_SEAT,
            None => self.age.is_some_and(|age| age < 2),
        }
    }
}

/// What an offer says about the passengers an order must carry. Kept in the attempt state
/// (from the re-price) so the order phase builds the same body on any run.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OfferRules {
    /// The offer's passengers, in the offer's order.
    pub passengers: Vec<OfferPassenger>,
    /// `passenger_identity_documents_required`.
    #[serde(default)]
    pub documents_required: bool,
    /// `supported_passenger_identity_document_types` (empty: not given).
    #[serde(default)]
    pub document_types: Vec<String>,
    /// The date of the last flight, when known: documents must be valid until then.
    #[serde(default, with = "crate::time::iso_date::option")]
    pub last_travel_date: Option<NaiveDate>,
}

/// Why the travellers cannot be booked on the offer. Every code is stable.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum PassengerError {
    /// The travellers do not match the offer's passengers (count, type or age).
    #[error("the travellers do not match the offer's passengers")]
    Mismatch,
    /// More infants than adults: each adult carries at most one.
    #[error("more infants than adults")]
    TooManyInfants,
    /// The offer requires identity documents and a traveller has none.
    #[error("a traveller has no identity document")]
    DocumentMissing,
    /// A traveller's document type is not one the offer accepts.
    #[error("a traveller's identity document type is not accepted")]
    DocumentUnsupported,
    /// A traveller's document expires before the last flight.
    #[error("a traveller's identity document expires before travel")]
    DocumentExpired,
}

impl PassengerError {
    /// Stable machine-readable code (also the reason recorded on the trip or attempt).
    pub fn code(self) -> &'static str {
        match self {
            Self::Mismatch => "traveller_mismatch",
            Self::TooManyInfants => "too_many_infants",
            Self::DocumentMissing => "identity_document_missing",
            Self::DocumentUnsupported => "identity_document_unsupported",
            Self::DocumentExpired => "identity_document_expired",
        }
    }

    /// Whether only the traveller can fix it (their profile: documents, infants), as opposed to
    /// a mismatch between the trip's travellers and the offer.
    pub fn needs_traveller(self) -> bool {
        !matches!(self, Self::Mismatch)
    }
}

/// The order's passengers for `travellers` (in the trip's order: adults, then children with
/// their `searched_age`) on an offer with `rules`, each with its offer passenger id, adults
/// carrying their infant's id, and documents when required. See the module docs for the rules.
pub fn assign(
    travellers: &[OrderPassenger],
    rules: &OfferRules,
) -> Result<Vec<OrderPassenger>, PassengerError> {
    let offer = &rules.passengers;
    if travellers.len() != offer.len() {
        return Err(PassengerError::Mismatch);
    }
    // For each offer passenger, the index of its traveller.
    let mut taken = vec![false; offer.len()];
    let mut pairs: Vec<(usize, usize)> = Vec::with_capacity(offer.len());
    // Adults in order first, then children and infants by exact age, then by type.
    for (t, traveller) in travellers.iter().enumerate() {
        let fits = |p: &OfferPassenger| match traveller.searched_age {
            None => p.is_adult(),
            Some(age) => !p.is_adult() && p.age == Some(age),
        };
        let by_type = |p: &OfferPassenger| match traveller.searched_age {
            None => false,
            Some(age) => p.age.is_none() && !p.is_adult() && p.is_infant() == (age < 2),
        };
        let found = (0..offer.len())
            .find(|&o| !taken[o] && fits(&offer[o]))
            .or_else(|| (0..offer.len()).find(|&o| !taken[o] && by_type(&offer[o])))
            .ok_or(PassengerError::Mismatch)?;
        taken[found] = true;
        pairs.push((found, t));
    }
    pairs.sort_unstable();

    let adults: Vec<usize> = (0..offer.len()).filter(|&o| offer[o].is_adult()).collect();
    let infants: Vec<usize> = (0..offer.len()).filter(|&o| offer[o].is_infant()).collect();
    if infants.len() > adults.len() {
        return Err(PassengerError::TooManyInfants);
    }

    let mut out = Vec::with_capacity(offer.len());
    for (o, t) in pairs {
        let traveller = &travellers[t];
        let mut passenger = OrderPassenger {
            id: offer[o].id.clone(),
            infant_passenger_id: None,
            identity_documents: Vec::new(),
            ..traveller.clone()
        };
        if let Some(k) = adults.iter().position(|&a| a == o) {
            passenger.infant_passenger_id = infants.get(k).map(|&i| offer[i].id.clone());
        }
        if rules.documents_required {
            let document = traveller
                .identity_documents
                .first()
                .ok_or(PassengerError::DocumentMissing)?;
            if !rules.document_types.is_empty() && !rules.document_types.contains(&document.kind) {
                return Err(PassengerError::DocumentUnsupported);
            }
            if rules
                .last_travel_date
                .is_some_and(|last| document.expires_on < last)
            {
                return Err(PassengerError::DocumentExpired);
            }
            passenger.identity_documents = vec![document.clone()];
        }
        out.push(passenger);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn date(text: &str) -> NaiveDate {
        NaiveDate::parse_from_str(text, "%Y-%m-%d").unwrap()
    }

    fn passport(expires: &str) -> IdentityDocument {
        IdentityDocument {
            kind: "passport".into(),
            unique_identifier: "19KL56147".into(),
            issuing_country_code: "GB".into(),
            expires_on: date(expires),
        }
    }

    fn traveller(name: &str, age: Option<u8>, doc: Option<IdentityDocument>) -> OrderPassenger {
        OrderPassenger {
            title: "ms".into(),
            gender: "f".into(),
            given_name: name.into(),
            family_name: "Earhart".into(),
            born_on: "1987-07-24".into(),
            email: "a@example.com".into(),
            phone_number: "+442080160509".into(),
            identity_documents: doc.into_iter().collect(),
            searched_age: age,
            ..OrderPassenger::default()
        }
    }

    fn pax(id: &str, kind: &str, age: Option<u8>) -> OfferPassenger {
        OfferPassenger {
            id: id.into(),
            kind: Some(kind.into()),
            age,
        }
    }

    fn family_rules(documents_required: bool) -> OfferRules {
        OfferRules {
            // Duffel lists them in any order: the infant first here on purpose.
            passengers: vec![
                pax("pas_inf", INFANT_WITHOUT_SEAT, Some(1)),
                pax("pas_a1", "adult", None),
                pax("pas_child", "child", Some(9)),
                pax("pas_a2", "adult", None),
            ],
            documents_required,
            document_types: vec!["passport".into()],
            last_travel_date: Some(date("2030-01-10")),
        }
    }

    fn family(doc: impl Fn() -> Option<IdentityDocument>) -> Vec<OrderPassenger> {
        vec![
            traveller("Amelia", None, doc()),
            traveller("Bert", None, doc()),
            traveller("Cleo", Some(9), doc()),
            traveller("Ada", Some(1), doc()),
        ]
    }

    #[test]
    fn a_family_with_an_infant_links_it_to_the_first_adult() {
        let out = assign(&family(|| None), &family_rules(false)).unwrap();
        let by_id = |id: &str| out.iter().find(|p| p.id == id).unwrap();
        assert_eq!(by_id("pas_a1").given_name, "Amelia");
        assert_eq!(
            by_id("pas_a1").infant_passenger_id.as_deref(),
            Some("pas_inf")
        );
        assert_eq!(by_id("pas_a2").infant_passenger_id, None);
        assert_eq!(by_id("pas_child").given_name, "Cleo");
        assert_eq!(by_id("pas_inf").given_name, "Ada");
        assert_eq!(by_id("pas_inf").infant_passenger_id, None);
        // In the offer's order; no documents when the offer does not ask for them.
        let ids: Vec<&str> = out.iter().map(|p| p.id.as_str()).collect();
        assert_eq!(ids, ["pas_inf", "pas_a1", "pas_child", "pas_a2"]);
        assert!(out.iter().all(|p| p.identity_documents.is_empty()));
    }

    #[test]
    fn documents_are_attached_when_required() {
        let out = assign(
            &family(|| Some(passport("2031-04-25"))),
            &family_rules(true),
        )
        .unwrap();
        assert!(out.iter().all(|p| p.identity_documents.len() == 1));
        // Not required: the stored documents stay home.
        let out = assign(
            &family(|| Some(passport("2031-04-25"))),
            &family_rules(false),
        )
        .unwrap();
        assert!(out.iter().all(|p| p.identity_documents.is_empty()));
    }

    #[test]
    fn missing_expired_or_unsupported_documents_are_refused() {
        let rules = family_rules(true);
        let mut travellers = family(|| Some(passport("2031-04-25")));
        travellers[3].identity_documents.clear();
        assert_eq!(
            assign(&travellers, &rules),
            Err(PassengerError::DocumentMissing)
        );
        let mut travellers = family(|| Some(passport("2031-04-25")));
        travellers[1].identity_documents[0].expires_on = date("2030-01-09");
        assert_eq!(
            assign(&travellers, &rules),
            Err(PassengerError::DocumentExpired)
        );
        // Valid on the day of the last flight is enough.
        travellers[1].identity_documents[0].expires_on = date("2030-01-10");
        assert!(assign(&travellers, &rules).is_ok());
        travellers[1].identity_documents[0].kind = "tax_id".into();
        assert_eq!(
            assign(&travellers, &rules),
            Err(PassengerError::DocumentUnsupported)
        );
        assert_eq!(
            PassengerError::DocumentExpired.code(),
            "identity_document_expired"
        );
        assert!(!PassengerError::Mismatch.needs_traveller());
    }

    #[test]
    fn more_infants_than_adults_or_a_mismatch_is_refused() {
        let rules = OfferRules {
            passengers: vec![
                pax("pas_a", "adult", None),
                pax("pas_i1", INFANT_WITHOUT_SEAT, Some(0)),
                pax("pas_i2", INFANT_WITHOUT_SEAT, Some(1)),
            ],
            ..OfferRules::default()
        };
        let travellers = vec![
            traveller("A", None, None),
            traveller("I", Some(0), None),
            traveller("J", Some(1), None),
        ];
        assert_eq!(
            assign(&travellers, &rules),
            Err(PassengerError::TooManyInfants)
        );
        // A child where the offer has an infant, or one traveller too few.
        let rules = family_rules(false);
        let mut travellers = family(|| None);
        travellers[3].searched_age = Some(5);
        assert_eq!(assign(&travellers, &rules), Err(PassengerError::Mismatch));
        assert_eq!(
            assign(&family(|| None)[..3], &rules),
            Err(PassengerError::Mismatch)
        );
    }

    #[test]
    fn offer_passengers_without_age_match_by_type() {
        let rules = OfferRules {
            passengers: vec![
                pax("pas_a", "adult", None),
                OfferPassenger {
                    id: "pas_i".into(),
                    kind: Some(INFANT_WITHOUT_SEAT.into()),
                    age: None,
                },
            ],
            ..OfferRules::default()
        };
        let out = assign(
            &[traveller("A", None, None), traveller("I", Some(1), None)],
            &rules,
        )
        .unwrap();
        assert_eq!(out[0].infant_passenger_id.as_deref(), Some("pas_i"));
    }

    #[test]
    fn document_debug_hides_the_number() {
        let text = format!("{:?}", passport("2031-04-25"));
        assert!(text.contains("passport"));
        assert!(!text.contains("19KL") && !text.contains("2031") && !text.contains("GB"));
    }

    proptest! {
        /// Any trip shape the trip rules accept (1-9 passengers, infants ≤ adults) on an offer
        /// listing its passengers in any order: every offer passenger is used once, each
        /// traveller keeps its type, and infants go to distinct adults, all of them linked.
        #[test]
        fn every_infant_has_its_own_adult(
            adults in 1usize..=5,
            ages in proptest::collection::vec(0u8..18, 0..=4),
            rotate in 0usize..9,
        ) {
            let infants = ages.iter().filter(|a| **a < 2).count();
            prop_assume!(infants <= adults);
            let mut travellers: Vec<OrderPassenger> =
                (0..adults).map(|i| traveller(&format!("A{i}"), None, None)).collect();
            travellers.extend(ages.iter().map(|a| traveller(&format!("C{a}"), Some(*a), None)));
            let mut offer: Vec<OfferPassenger> =
                (0..adults).map(|i| pax(&format!("pas_a{i}"), "adult", None)).collect();
            offer.extend(ages.iter().enumerate().map(|(i, a)| {
                let kind = if *a < 2 { INFANT_WITHOUT_SEAT } else { "child" };
                pax(&format!("pas_c{i}"), kind, Some(*a))
            }));
            let n = offer.len();
            offer.rotate_left(rotate % n);
            let rules = OfferRules { passengers: offer.clone(), ..OfferRules::default() };
            let out = assign(&travellers, &rules).unwrap();
            let mut ids: Vec<&str> = out.iter().map(|p| p.id.as_str()).collect();
            ids.sort_unstable();
            ids.dedup();
            prop_assert_eq!(ids.len(), n);
            for p in &out {
                let o = offer.iter().find(|o| o.id == p.id).unwrap();
                prop_assert_eq!(o.is_adult(), p.searched_age.is_none());
                prop_assert_eq!(o.age, p.searched_age);
            }
            let mut linked: Vec<&str> =
                out.iter().filter_map(|p| p.infant_passenger_id.as_deref()).collect();
            prop_assert_eq!(linked.len(), infants);
            linked.sort_unstable();
            linked.dedup();
            prop_assert_eq!(linked.len(), infants);
            for id in linked {
                prop_assert!(offer.iter().any(|o| o.id == id && o.is_infant()));
            }
        }
    }
}
