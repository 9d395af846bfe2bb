//! The `payment-methods` request body, validated, and the consent text.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::money::{Currency, Money};
use crate::stripe::cards::valid_id;
use crate::stripe::to_stripe_amount;
use crate::trip::{parse_json_object, FieldError, TripError};

/// The version of [`consent_text`] recorded with each consent.
pub const CONSENT_TEXT_VERSION: &str = "2026-12-01";
/// Longest consent text accepted back from the client.
const MAX_TEXT: usize = 2000;

/// `POST /functions/v1/payment-methods`: one action on the caller's saved cards.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum PaymentMethodsRequest {
    /// Create a SetupIntent (and the Stripe customer on first use); answers its `client_secret`.
    Setup,
    /// The caller's cards, the default and the current consent.
    List,
    /// Make one of the caller's cards the default (the card auto-booking charges).
    SetDefault {
        /// `pm_…`.
        payment_method: String,
    },
    /// Remove one of the caller's cards (permanent at Stripe); its consent ends with it.
    Detach {
        /// `pm_…`.
        payment_method: String,
    },
    /// The consent text for the default card and this maximum, to show before `consent`.
    ConsentText {
        /// Most one booking may charge, minor units of `currency`.
        max_amount_minor: i64,
        /// ISO 4217.
        currency: String,
    },
    /// Record the caller's consent to off-session charges on the default card.
    Consent {
        /// Most one booking may charge, minor units of `currency`.
        max_amount_minor: i64,
        /// ISO 4217.
        currency: String,
        /// The text shown, exactly as `consent_text` returned it.
        text: String,
    },
}

/// A consent amount: positive and chargeable by Stripe exactly.
pub(super) fn consent_amount(minor: i64, currency: &str) -> Result<Money, Vec<FieldError>> {
    let field = |field: &str, code: &'static str, message: &str| FieldError {
        field: field.to_owned(),
        code,
        message: message.to_owned(),
    };
    let currency = Currency::parse(currency)
        .map_err(|_| vec![field("currency", "invalid_currency", "an ISO 4217 code")])?;
    let money = Money::from_minor(minor, currency)
        .ok()
        .filter(|m| m.amount_minor > 0 && to_stripe_amount(*m).is_ok())
        .ok_or_else(|| {
            vec![field(
                "max_amount_minor",
                "invalid_amount",
                "a positive amount in minor units that the card can be charged",
            )]
        })?;
    Ok(money)
}

/// Parses and validates a body: 400 codes `invalid_json`, `duplicate_key`, `validation_failed`.
pub fn parse_request(body: &[u8]) -> Result<PaymentMethodsRequest, TripError> {
    let object = parse_json_object(body)?;
    let mut errors = Vec::new();
    let request = read(&object, &mut errors);
    match request {
        Some(request) if errors.is_empty() => Ok(request),
        _ => Err(TripError::Invalid(errors)),
    }
}

fn read(
    object: &Map<String, Value>,
    errors: &mut Vec<FieldError>,
) -> Option<PaymentMethodsRequest> {
    let mut fail = |field: &str, code: &'static str, message: &str| {
        errors.push(FieldError {
            field: field.to_owned(),
            code,
            message: message.to_owned(),
        });
    };
    let Some(action) = object.get("action").and_then(Value::as_str) else {
        fail(
            "action",
            "required",
            "one of setup, list, set_default, detach, consent_text, consent",
        );
        return None;
    };
    let allowed: &[&str] = match action {
        "setup" | "list" => &[],
        "set_default" | "detach" => &["payment_method"],
        "consent_text" => &["max_amount_minor", "currency"],
        "consent" => &["max_amount_minor", "currency", "text"],
        _ => {
            fail(
                "action",
                "unknown_action",
                "one of setup, list, set_default, detach, consent_text, consent",
            );
            return None;
        }
    };
    for key in object.keys() {
        if key != "action" && !allowed.contains(&key.as_str()) {
            fail(key, "unknown_field", "not a field of this action");
        }
    }
    let string = |name: &str, fail: &mut dyn FnMut(&str, &'static str, &str)| match object
        .get(name)
        .and_then(Value::as_str)
    {
        Some(s) => Some(s.to_owned()),
        None => {
            fail(name, "required", "a string is required");
            None
        }
    };
    let request = match action {
        "setup" => PaymentMethodsRequest::Setup,
        "list" => PaymentMethodsRequest::List,
        "set_default" | "detach" => {
            let pm = string("payment_method", &mut fail)?;
            if !valid_id(&pm, "pm_") {
                fail(
                    "payment_method",
                    "invalid_payment_method",
                    "a Stripe payment method id (pm_…)",
                );
                return None;
            }
            if action == "detach" {
                PaymentMethodsRequest::Detach { payment_method: pm }
            } else {
                PaymentMethodsRequest::SetDefault { payment_method: pm }
            }
        }
        _ => {
            let currency = string("currency", &mut fail);
            let minor = object.get("max_amount_minor").and_then(Value::as_i64);
            if minor.is_none() {
                fail(
                    "max_amount_minor",
                    "required",
                    "an integer amount in minor units",
                );
            }
            let text = if action == "consent" {
                let text = string("text", &mut fail);
                if text
                    .as_ref()
                    .is_some_and(|t| t.is_empty() || t.len() > MAX_TEXT)
                {
                    fail(
                        "text",
                        "invalid_text",
                        "the consent text as shown, at most 2000 bytes",
                    );
                }
                text
            } else {
                None
            };
            let (minor, currency) = (minor?, currency?);
            if let Err(mut more) = consent_amount(minor, &currency) {
                errors_extend(&mut fail, &mut more);
                return None;
            }
            match text {
                Some(text) => PaymentMethodsRequest::Consent {
                    max_amount_minor: minor,
                    currency,
                    text,
                },
                None if action == "consent" => return None,
                None => PaymentMethodsRequest::ConsentText {
                    max_amount_minor: minor,
                    currency,
                },
            }
        }
    };
    Some(request)
}

fn errors_extend(fail: &mut dyn FnMut(&str, &'static str, &str), more: &mut Vec<FieldError>) {
    for e in more.drain(..) {
        fail(&e.field, e.code, &e.message);
    }
}

/// The text a traveller agrees to: which card, the maximum per booking, off-session.
pub fn consent_text(brand: &str, last4: &str, max: Money) -> String {
    let brand = match brand {
        "amex" => "American Express".to_owned(),
        "diners" => "Diners Club".to_owned(),
        "unionpay" => "UnionPay".to_owned(),
        other => {
            let mut chars = other.chars();
            chars.next().map_or_else(String::new, |first| {
                first.to_uppercase().chain(chars).collect()
            })
        }
    };
    format!(
        "I authorise Parker Flight to charge my {brand} card ending {last4} while I am not \
         present, up to {} {} per booking, to pay for flights I asked it to book automatically. \
         I can withdraw this at any time by removing the card or turning auto-booking off.",
        max.currency.code(),
        max.to_decimal_string()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn codes(body: &str) -> Vec<&'static str> {
        match parse_request(body.as_bytes()) {
            Err(TripError::Invalid(fields)) => fields.iter().map(|f| f.code).collect(),
            Err(other) => vec![other.code()],
            Ok(_) => vec![],
        }
    }

    #[test]
    fn reads_every_action() {
        assert_eq!(
            parse_request(br#"{"action":"setup"}"#).unwrap(),
            PaymentMethodsRequest::Setup
        );
        assert_eq!(
            parse_request(br#"{"action":"detach","payment_method":"pm_1"}"#).unwrap(),
            PaymentMethodsRequest::Detach {
                payment_method: "pm_1".into()
            }
        );
        assert_eq!(
            parse_request(
                br#"{"action":"consent","max_amount_minor":50000,"currency":"GBP","text":"x"}"#
            )
            .unwrap(),
            PaymentMethodsRequest::Consent {
                max_amount_minor: 50000,
                currency: "GBP".into(),
                text: "x".into()
            }
        );
    }

    #[test]
    fn refuses_bad_bodies_with_stable_codes() {
        assert_eq!(codes("nope"), ["invalid_json"]);
        assert_eq!(
            codes(r#"{"action":"list","action":"setup"}"#),
            ["duplicate_key"]
        );
        assert_eq!(codes("{}"), ["required"]);
        assert_eq!(codes(r#"{"action":"pay"}"#), ["unknown_action"]);
        assert_eq!(codes(r#"{"action":"list","x":1}"#), ["unknown_field"]);
        assert_eq!(codes(r#"{"action":"detach"}"#), ["required"]);
        assert_eq!(
            codes(r#"{"action":"detach","payment_method":"card_1"}"#),
            ["invalid_payment_method"]
        );
        assert_eq!(
            codes(r#"{"action":"consent_text","max_amount_minor":0,"currency":"GBP"}"#),
            ["invalid_amount"]
        );
        assert_eq!(
            codes(r#"{"action":"consent_text","max_amount_minor":12345,"currency":"KWD"}"#),
            ["invalid_amount"],
            "not chargeable exactly"
        );
        assert_eq!(
            codes(r#"{"action":"consent_text","max_amount_minor":100,"currency":"XXQ"}"#),
            ["invalid_currency"]
        );
        assert_eq!(
            codes(r#"{"action":"consent","max_amount_minor":100,"currency":"GBP","text":""}"#),
            ["invalid_text"]
        );
    }

    #[test]
    fn the_text_names_card_and_maximum() {
        let max = Money::from_minor(50000, Currency::parse("GBP").unwrap()).unwrap();
        let text = consent_text("visa", "4242", max);
        assert!(text.contains("Visa card ending 4242"), "{text}");
        assert!(text.contains("up to GBP 500.00 per booking"), "{text}");
        assert!(consent_text("amex", "0005", max).contains("American Express"));
    }
}
