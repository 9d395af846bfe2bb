//! Exact money: integer minor units with the ISO 4217 exponent of the currency.
//!
//! Providers send decimal strings (`"221.78"`, `"1500"` for JPY, `"12.345"` for KWD). They are
//! read exactly as digit strings into integer minor units (no decimal type: `rust_decimal` is the
//! tests' oracle only, which keeps it out of the wasm modules); a value with more fractional
//! digits than the currency allows is rejected, never rounded. Floats never appear.

use std::fmt;

use serde::{Deserialize, Serialize};
use thiserror::Error;

/// Largest amount, in minor units, the system accepts anywhere (10^12: a trillion cents).
pub const MAX_MINOR: i64 = 1_000_000_000_000;

/// An ISO 4217 currency that has a minor-unit exponent (`GBP` 2, `JPY` 0, `KWD` 3).
///
/// Funds and metals codes (`XAU`, `XDR`, …) have no exponent and are rejected.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Currency(u8);

/// Every ISO 4217 currency with a minor-unit exponent (at most 4), by code: the `iso_currency`
/// crate's data (the tests check it code by code; the crate itself is not in the wasm modules).
const CURRENCIES: [(&str, u8); 170] = [
    ("AED", 2),
    ("AFN", 2),
    ("ALL", 2),
    ("AMD", 2),
    ("AOA", 2),
    ("ARS", 2),
    ("AUD", 2),
    ("AWG", 2),
    ("AZN", 2),
    ("BAM", 2),
    ("BBD", 2),
    ("BDT", 2),
    ("BGN", 2),
    ("BHD", 3),
    ("BIF", 0),
    ("BMD", 2),
    ("BND", 2),
    ("BOB", 2),
    ("BOV", 2),
    ("BRL", 2),
    ("BSD", 2),
    ("BTN", 2),
    ("BWP", 2),
    ("BYN", 2),
    ("BZD", 2),
    ("CAD", 2),
    ("CDF", 2),
    ("CHE", 2),
    ("CHF", 2),
    ("CHW", 2),
    ("CLF", 4),
    ("CLP", 0),
    ("CNY", 2),
    ("COP", 2),
    ("COU", 2),
    ("CRC", 2),
    ("CUC", 2),
    ("CUP", 2),
    ("CVE", 2),
    ("CZK", 2),
    ("DJF", 0),
    ("DKK", 2),
    ("DOP", 2),
    ("DZD", 2),
    ("EGP", 2),
    ("ERN", 2),
    ("ETB", 2),
    ("EUR", 2),
    ("FJD", 2),
    ("FKP", 2),
    ("GBP", 2),
    ("GEL", 2),
    ("GHS", 2),
    ("GIP", 2),
    ("GMD", 2),
    ("GNF", 0),
    ("GTQ", 2),
    ("GYD", 2),
    ("HKD", 2),
    ("HNL", 2),
    ("HRK", 2),
    ("HTG", 2),
    ("HUF", 2),
    ("IDR", 2),
    ("ILS", 2),
    ("INR", 2),
    ("IQD", 3),
    ("IRR", 2),
    ("ISK", 0),
    ("JMD", 2),
    ("JOD", 3),
    ("JPY", 0),
    ("KES", 2),
    ("KGS", 2),
    ("KHR", 2),
    ("KMF", 0),
    ("KPW", 2),
    ("KRW", 0),
    ("KWD", 3),
    ("KYD", 2),
    ("KZT", 2),
    ("LAK", 2),
    ("LBP", 2),
    ("LKR", 2),
    ("LRD", 2),
    ("LSL", 2),
    ("LYD", 3),
    ("MAD", 2),
    ("MDL", 2),
    ("MGA", 2),
    ("MKD", 2),
    ("MMK", 2),
    ("MNT", 2),
    ("MOP", 2),
    ("MRU", 2),
    ("MUR", 2),
    ("MVR", 2),
    ("MWK", 2),
    ("MXN", 2),
    ("MXV", 2),
    ("MYR", 2),
    ("MZN", 2),
    ("NAD", 2),
    ("NGN", 2),
    ("NIO", 2),
    ("NOK", 2),
    ("NPR", 2),
    ("NZD", 2),
    ("OMR", 3),
    ("PAB", 2),
    ("PEN", 2),
    ("PGK", 2),
    ("PHP", 2),
    ("PKR", 2),
    ("PLN", 2),
    ("PYG", 0),
    ("QAR", 2),
    ("RON", 2),
    ("RSD", 2),
    ("RUB", 2),
    ("RWF", 0),
    ("SAR", 2),
    ("SBD", 2),
    ("SCR", 2),
    ("SDG", 2),
    ("SEK", 2),
    ("SGD", 2),
    ("SHP", 2),
    ("SLE", 2),
    ("SLL", 2),
    ("SOS", 2),
    ("SRD", 2),
    ("SSP", 2),
    ("STN", 2),
    ("SVC", 2),
    ("SYP", 2),
    ("SZL", 2),
    ("THB", 2),
    ("TJS", 2),
    ("TMT", 2),
    ("TND", 3),
    ("TOP", 2),
    ("TRY", 2),
    ("TTD", 2),
    ("TWD", 2),
    ("TZS", 2),
    ("UAH", 2),
    ("UGX", 0),
    ("USD", 2),
    ("USN", 2),
    ("UYI", 0),
    ("UYU", 2),
    ("UYW", 4),
    ("UZS", 2),
    ("VED", 2),
    ("VES", 2),
    ("VND", 0),
    ("VUV", 0),
    ("WST", 2),
    ("XAD", 2),
    ("XAF", 0),
    ("XCD", 2),
    ("XCG", 2),
    ("XOF", 0),
    ("XPF", 0),
    ("YER", 2),
    ("ZAR", 2),
    ("ZMW", 2),
    ("ZWG", 2),
    ("ZWL", 2),
];

impl Currency {
    /// Parses an upper-case ISO 4217 alphabetic code.
    pub fn parse(code: &str) -> Result<Self, MoneyError> {
        CURRENCIES
            .binary_search_by(|(c, _)| (*c).cmp(code))
            .ok()
            .and_then(|i| u8::try_from(i).ok())
            .map(Self)
            .ok_or_else(|| MoneyError::UnknownCurrency(code.chars().take(8).collect()))
    }

    /// The three-letter code, upper case.
    pub fn code(self) -> &'static str {
        CURRENCIES[usize::from(self.0)].0
    }

    /// Number of minor-unit digits (0 for JPY, 2 for GBP, 3 for KWD).
    pub fn exponent(self) -> u32 {
        u32::from(CURRENCIES[usize::from(self.0)].1)
    }
}

impl fmt::Debug for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Currency({})", self.code())
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl Serialize for Currency {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.code())
    }
}

impl<'de> Deserialize<'de> for Currency {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let code = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        Self::parse(&code).map_err(serde::de::Error::custom)
    }
}

/// An exact amount of money: integer minor units of one currency.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Money {
    /// Amount in minor units (pence for GBP, yen for JPY, fils for KWD).
    pub amount_minor: i64,
    /// The currency, whose ISO 4217 exponent gives the meaning of `amount_minor`.
    pub currency: Currency,
}

impl Money {
    /// Builds an amount from minor units, rejecting magnitudes above [`MAX_MINOR`].
    pub fn from_minor(amount_minor: i64, currency: Currency) -> Result<Self, MoneyError> {
        if amount_minor.checked_abs().is_none_or(|a| a > MAX_MINOR) {
            return Err(MoneyError::OutOfRange);
        }
        Ok(Self {
            amount_minor,
            currency,
        })
    }

    /// Parses a provider decimal string (`"221.78"`) in `currency` exactly.
    ///
    /// Accepts an optional leading `-`, digits, and at most one `.`; no exponent notation, no
    /// thousands separators, no surrounding spaces. Trailing fractional zeros beyond the
    /// currency's exponent are accepted (`"100.000"` GBP is 10000 pence); any other excess
    /// precision is an error, never rounded.
    pub fn parse_decimal(text: &str, currency: Currency) -> Result<Self, MoneyError> {
        let digits = text.strip_prefix('-').unwrap_or(text);
        let well_formed = !digits.is_empty()
            && digits.len() <= 40
            && !digits.starts_with('.')
            && !digits.ends_with('.')
            && digits.chars().all(|c| c.is_ascii_digit() || c == '.')
            && digits.matches('.').count() <= 1;
        if !well_formed {
            return Err(MoneyError::Malformed(text.chars().take(40).collect()));
        }
        let minor = exact_minor(digits, currency)?;
        Self::from_minor(if text.starts_with('-') { -minor } else { minor }, currency)
    }

    /// Renders the amount as a decimal string with exactly the currency's exponent digits
    /// (`22178` GBP → `"221.78"`, `1500` JPY → `"1500"`, `12345` KWD → `"12.345"`).
    pub fn to_decimal_string(self) -> String {
        let exponent = usize::try_from(self.currency.exponent()).unwrap_or(0);
        let mut digits = self.amount_minor.unsigned_abs().to_string();
        while digits.len() <= exponent {
            digits.insert(0, '0');
        }
        let (whole, frac) = digits.split_at(digits.len() - exponent);
        let mut out = String::with_capacity(digits.len() + 2);
        if self.amount_minor < 0 {
            out.push('-');
        }
        out.push_str(whole);
        if exponent > 0 {
            out.push('.');
            out.push_str(frac);
        }
        out
    }
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.to_decimal_string(), self.currency)
    }
}

/// Why an amount or currency was refused.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum MoneyError {
    /// The currency code is not ISO 4217 or has no minor-unit exponent.
    #[error("unknown currency {0:?}")]
    UnknownCurrency(String),
    /// The text is not a plain decimal number.
    #[error("malformed amount {0:?}")]
    Malformed(String),
    /// More fractional digits than the currency has minor units.
    #[error("{currency} amounts have at most {exponent} decimal places")]
    TooPrecise {
        /// The currency code.
        currency: &'static str,
        /// Its ISO 4217 exponent.
        exponent: u32,
    },
    /// Larger than the system accepts.
    #[error("amount out of range")]
    OutOfRange,
}

impl MoneyError {
    /// Stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::UnknownCurrency(_) => "unknown_currency",
            Self::Malformed(_) => "malformed_amount",
            Self::TooPrecise { .. } => "too_precise",
            Self::OutOfRange => "amount_out_of_range",
        }
    }
}

/// The exact value of a well-formed unsigned decimal (digits with at most one `.`, checked by
/// the caller) in minor units of `currency`: trailing fraction zeros and leading zeros carry no
/// value; any other fraction digit beyond the exponent is [`MoneyError::TooPrecise`] (never
/// rounded), and more than [`MAX_MINOR`]'s 13 digits of minor units is
/// [`MoneyError::OutOfRange`] (so the sum below cannot overflow).
fn exact_minor(digits: &str, currency: Currency) -> Result<i64, MoneyError> {
    let exponent = currency.exponent();
    let (whole, frac) = digits.split_once('.').unwrap_or((digits, ""));
    let frac = frac.trim_end_matches('0');
    let whole = whole.trim_start_matches('0');
    let places = usize::try_from(exponent).unwrap_or(usize::MAX);
    if frac.len() > places {
        return Err(MoneyError::TooPrecise {
            currency: currency.code(),
            exponent,
        });
    }
    if whole.len().saturating_add(places) > 13 {
        return Err(MoneyError::OutOfRange);
    }
    let mut minor: i64 = 0;
    for b in whole.bytes().chain(frac.bytes()) {
        minor = minor * 10 + i64::from(b - b'0');
    }
    for _ in frac.len()..places {
        minor *= 10;
    }
    Ok(minor)
}

#[cfg(test)]
mod tests {

    use std::str::FromStr;

    use rust_decimal::Decimal;

    use super::*;

    #[test]
    fn the_currency_table_is_iso_currency_s() {
        let letters = b'A'..=b'Z';
        for a in letters.clone() {
            for b in letters.clone() {
                for c in letters.clone() {
                    let code = String::from_utf8(vec![a, b, c]).unwrap();
                    let iso = iso_currency::Currency::from_code(&code)
                        .and_then(|c| c.exponent())
                        .filter(|e| *e <= 4)
                        .map(u32::from);
                    let ours = Currency::parse(&code).ok();
                    assert_eq!(ours.map(Currency::exponent), iso, "{code}");
                    assert_eq!(ours.map(Currency::code), iso.map(|_| code.as_str()));
                }
            }
        }
        for code in ["gbp", "GB", "GBPX", "", "XAU", "XDR"] {
            assert!(Currency::parse(code).is_err(), "{code}");
        }
    }
    fn cur(code: &str) -> Currency {
        Currency::parse(code).unwrap()
    }

    #[test]
    fn parses_two_zero_and_three_decimal_currencies() {
        assert_eq!(
            Money::parse_decimal("221.78", cur("GBP"))
                .unwrap()
                .amount_minor,
            22178
        );
        assert_eq!(
            Money::parse_decimal("221.7", cur("GBP"))
                .unwrap()
                .amount_minor,
            22170
        );
        assert_eq!(
            Money::parse_decimal("45", cur("GBP")).unwrap().amount_minor,
            4500
        );
        assert_eq!(
            Money::parse_decimal("15000", cur("JPY"))
                .unwrap()
                .amount_minor,
            15000
        );
        assert_eq!(
            Money::parse_decimal("12.345", cur("KWD"))
                .unwrap()
                .amount_minor,
            12345
        );
        assert_eq!(
            Money::parse_decimal("0.001", cur("KWD"))
                .unwrap()
                .amount_minor,
            1
        );
        assert_eq!(
            Money::parse_decimal("-4.50", cur("EUR"))
                .unwrap()
                .amount_minor,
            -450
        );
    }

    #[test]
    fn rejects_excess_precision_instead_of_rounding() {
        let err = Money::parse_decimal("15000.5", cur("JPY")).unwrap_err();
        assert_eq!(err.code(), "too_precise");
        assert_eq!(
            Money::parse_decimal("1.2345", cur("KWD"))
                .unwrap_err()
                .code(),
            "too_precise"
        );
        assert_eq!(
            Money::parse_decimal("0.001", cur("GBP"))
                .unwrap_err()
                .code(),
            "too_precise"
        );
        // Zeros beyond the exponent carry no value and are fine.
        assert_eq!(
            Money::parse_decimal("1500.00", cur("JPY"))
                .unwrap()
                .amount_minor,
            1500
        );
    }

    #[test]
    fn rejects_malformed_text() {
        for bad in [
            "", ".5", "5.", "1e3", " 1.00", "1,000.00", "1.0.0", "abc", "+1", "--1", "NaN",
        ] {
            assert_eq!(
                Money::parse_decimal(bad, cur("GBP")).unwrap_err().code(),
                "malformed_amount",
                "{bad:?}"
            );
        }
        let huge = "9".repeat(30);
        assert!(Money::parse_decimal(&huge, cur("GBP")).is_err());
    }

    #[test]
    fn currencies_need_an_exponent() {
        assert_eq!(cur("JPY").exponent(), 0);
        assert_eq!(cur("KWD").exponent(), 3);
        assert_eq!(
            Currency::parse("XAU").unwrap_err().code(),
            "unknown_currency"
        );
        assert_eq!(
            Currency::parse("gbp").unwrap_err().code(),
            "unknown_currency"
        );
        assert_eq!(
            Currency::parse("ZZZ").unwrap_err().code(),
            "unknown_currency"
        );
    }

    #[test]
    fn renders_with_the_currency_exponent() {
        let m = |minor, code| {
            Money::from_minor(minor, cur(code))
                .unwrap()
                .to_decimal_string()
        };
        assert_eq!(m(22178, "GBP"), "221.78");
        assert_eq!(m(22100, "GBP"), "221.00");
        assert_eq!(m(5, "GBP"), "0.05");
        assert_eq!(m(1500, "JPY"), "1500");
        assert_eq!(m(12345, "KWD"), "12.345");
    }

    #[test]
    fn serde_uses_codes() {
        let money = Money::from_minor(42000, cur("GBP")).unwrap();
        let json = serde_json::to_string(&money).unwrap();
        assert_eq!(json, r#"{"amount_minor":42000,"currency":"GBP"}"#);
        assert_eq!(serde_json::from_str::<Money>(&json).unwrap(), money);
        assert!(serde_json::from_str::<Money>(r#"{"amount_minor":1,"currency":"XXX"}"#).is_err());
    }

    proptest::proptest! {
        #[test]
        fn decimal_round_trip(minor in -MAX_MINOR..=MAX_MINOR, idx in 0usize..3) {
            let currency = cur(["JPY", "GBP", "KWD"][idx]);
            let money = Money::from_minor(minor, currency).unwrap();
            let text = money.to_decimal_string();
            proptest::prop_assert_eq!(Money::parse_decimal(&text, currency).unwrap(), money);
        }
    }

    #[test]
    fn long_text_is_exact_not_rounded() {
        let gbp = cur("GBP");
        // 30 fraction digits: a 28-digit decimal type would round this to zero.
        let tiny = format!("0.{}1", "0".repeat(29));
        assert_eq!(
            Money::parse_decimal(&tiny, gbp).unwrap_err().code(),
            "too_precise"
        );
        let padded = format!("{}1.{}", "0".repeat(30), "0".repeat(8));
        assert_eq!(
            Money::parse_decimal(&padded, gbp).unwrap().amount_minor,
            100
        );
        let max = Money::parse_decimal("10000000000.00", gbp).unwrap();
        assert_eq!(max.amount_minor, MAX_MINOR);
        for over in ["10000000000.01", "99999999999.99", "100000000000"] {
            assert_eq!(
                Money::parse_decimal(over, gbp).unwrap_err().code(),
                "amount_out_of_range",
                "{over}"
            );
        }
        assert_eq!(
            Money::parse_decimal(&"9".repeat(30), gbp)
                .unwrap_err()
                .code(),
            "amount_out_of_range"
        );
    }

    /// `rust_decimal` as the oracle (where it is exact: at most 28 digits).
    fn oracle(text: &str, currency: Currency) -> Option<i64> {
        let value = Decimal::from_str(text).ok()?;
        let scaled = value
            .checked_mul(Decimal::from(10_i64.pow(currency.exponent())))?
            .normalize();
        let minor = (scaled.scale() == 0)
            .then(|| i64::try_from(scaled).ok())
            .flatten()?;
        Money::from_minor(minor, currency)
            .ok()
            .map(|m| m.amount_minor)
    }

    proptest::proptest! {
        #[test]
        fn parse_agrees_with_the_decimal_oracle(
            text in "-?[0-9]{1,14}(\\.[0-9]{1,12})?",
            idx in 0usize..3,
        ) {
            let currency = cur(["JPY", "GBP", "KWD"][idx]);
            let ours = Money::parse_decimal(&text, currency).ok().map(|m| m.amount_minor);
            proptest::prop_assert_eq!(ours, oracle(&text, currency), "{}", text);
        }

        #[test]
        fn render_agrees_with_the_decimal_oracle(minor in -MAX_MINOR..=MAX_MINOR, idx in 0usize..3) {
            let currency = cur(["JPY", "GBP", "KWD"][idx]);
            let money = Money::from_minor(minor, currency).unwrap();
            proptest::prop_assert_eq!(
                money.to_decimal_string(),
                Decimal::new(minor, currency.exponent()).to_string()
            );
        }
    }

    #[test]
    fn parse_agrees_with_the_decimal_oracle_on_edges() {
        for code in ["GBP", "JPY", "KWD"] {
            let currency = cur(code);
            for text in [
                "0",
                "1",
                "221.78",
                "221.7",
                "221.780",
                "221.789",
                "0.001",
                "12.345",
                "1500",
                "-3.50",
                "007.10",
                "99999999999999.99",
                "123456789012345678",
                "1.5000000",
            ] {
                let fast = Money::parse_decimal(text, currency)
                    .ok()
                    .map(|m| m.amount_minor);
                assert_eq!(
                    fast,
                    oracle(text, currency),
                    "{text} {code} {:?}",
                    Money::parse_decimal(text, currency)
                );
            }
        }
    }
}
