//! The one conversion from [`Money`] (ISO 4217 minor units) to Stripe's `amount` integer.
//!
//! Stripe's unit is not always the ISO minor unit (`reference/contracts-providers.md` §2,
//! <https://docs.stripe.com/currencies>):
//!
//! - **Zero-decimal currencies** (`BIF CLP DJF GNF JPY KMF KRW MGA PYG RWF UGX VND VUV XAF XOF
//!   XPF`): the amount is in whole units. All of them are exponent 0 in ISO except `MGA`, which
//!   ISO gives two decimals: MGA 1500.00 (150000 ISO minor units) is Stripe `1500`, and an MGA
//!   amount with a fractional part cannot be charged.
//! - **ISK** is exponent 0 in ISO but two-decimal in Stripe, which also requires the amount to
//!   be a multiple of 100 (whole krónur): ISK 45000 is Stripe `4500000`.
//! - **Three-decimal currencies** (`BHD JOD KWD OMR TND`): ISO minor units, but Stripe requires
//!   the last digit to be 0.
//! - **Exponent 4** (`CLF`, `UYW`, funds codes) and the three-decimal currencies outside that
//!   list (`IQD`, `LYD`) cannot be charged through Stripe at all.
//!
//! An amount Stripe cannot charge exactly is refused, never rounded: rounding would authorize or
//! capture a different sum than the traveller agreed to and than Duffel is paid.

use super::StripeError;
use crate::money::{Currency, Money};

/// Stripe's zero-decimal currencies: `amount` is in whole units.
pub const ZERO_DECIMAL: [&str; 16] = [
    "BIF", "CLP", "DJF", "GNF", "JPY", "KMF", "KRW", "MGA", "PYG", "RWF", "UGX", "VND", "VUV",
    "XAF", "XOF", "XPF",
];

/// Three-decimal currencies: Stripe requires the least-significant digit to be 0.
pub const THREE_DECIMAL: [&str; 5] = ["BHD", "JOD", "KWD", "OMR", "TND"];

/// How many Stripe units one ISO minor unit is, as a ratio: Stripe amount =
/// ISO minor · `mul` / `div`, exact only when ISO minor is a multiple of `div`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Scale {
    mul: i64,
    div: i64,
}

fn scale(currency: Currency) -> Result<Scale, StripeError> {
    let code = currency.code();
    let exponent = currency.exponent();
    if exponent > 3 {
        return Err(StripeError::CurrencyNotSupported);
    }
    if code == "ISK" {
        // ISO exponent 0, Stripe two-decimal: whole krónur times 100.
        return Ok(Scale { mul: 100, div: 1 });
    }
    if ZERO_DECIMAL.contains(&code) {
        // Whole units: drop the ISO fraction digits, which must be zero.
        return Ok(Scale {
            mul: 1,
            div: 10_i64.pow(exponent),
        });
    }
    if exponent == 3 && !THREE_DECIMAL.contains(&code) {
        // IQD and LYD: three-decimal in ISO, not among Stripe's presentment currencies.
        return Err(StripeError::CurrencyNotSupported);
    }
    Ok(Scale { mul: 1, div: 1 })
}

/// `money` as Stripe's `amount` integer, or an error when Stripe cannot charge it exactly:
/// [`StripeError::CurrencyNotSupported`] for currencies Stripe does not charge (exponent 4,
/// `IQD`, `LYD`),
/// [`StripeError::AmountNotChargeable`] for zero or negative amounts, an MGA amount with a
/// fraction, or a three-decimal amount whose last digit is not 0.
pub fn to_stripe_amount(money: Money) -> Result<i64, StripeError> {
    let Scale { mul, div } = scale(money.currency)?;
    let minor = money.amount_minor;
    if minor <= 0 || minor % div != 0 {
        return Err(StripeError::AmountNotChargeable);
    }
    if THREE_DECIMAL.contains(&money.currency.code()) && minor % 10 != 0 {
        return Err(StripeError::AmountNotChargeable);
    }
    (minor / div)
        .checked_mul(mul)
        .ok_or(StripeError::AmountNotChargeable)
}

/// Whether a Stripe answer's `amount` and `currency` are exactly `money` (the comparison every
/// check of an intent against the saga's amount must use).
pub fn is_same_amount(money: Money, stripe_amount: i64, stripe_currency: &str) -> bool {
    stripe_currency.eq_ignore_ascii_case(money.currency.code())
        && to_stripe_amount(money).is_ok_and(|ours| ours == stripe_amount)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn money(minor: i64, code: &str) -> Money {
        Money::from_minor(minor, Currency::parse(code).unwrap()).unwrap()
    }

    fn stripe(minor: i64, code: &str) -> Result<i64, &'static str> {
        to_stripe_amount(money(minor, code)).map_err(|e| e.code())
    }

    #[test]
    fn two_decimal_currencies_pass_minor_units_through() {
        assert_eq!(stripe(22178, "GBP"), Ok(22178));
        assert_eq!(stripe(1, "EUR"), Ok(1));
        // HUF and TWD are special only for payouts: charges are plain two-decimal.
        assert_eq!(stripe(12_345, "HUF"), Ok(12345));
    }

    #[test]
    fn jpy_is_zero_decimal_in_both() {
        assert_eq!(stripe(1500, "JPY"), Ok(1500));
        assert_eq!(stripe(7, "JPY"), Ok(7));
    }

    #[test]
    fn isk_is_two_decimal_in_stripe_and_whole_kronur() {
        // ISK 45,000 (ISO exponent 0) is amount=4500000 in Stripe.
        assert_eq!(stripe(45_000, "ISK"), Ok(4_500_000));
        assert_eq!(stripe(1, "ISK"), Ok(100));
        assert_eq!(stripe(45_000, "ISK").unwrap() % 100, 0);
    }

    #[test]
    fn mga_is_zero_decimal_in_stripe_and_refuses_fractions() {
        // MGA 1500.00 (ISO exponent 2) is amount=1500 in Stripe.
        assert_eq!(stripe(150_000, "MGA"), Ok(1500));
        assert_eq!(stripe(150_050, "MGA"), Err("amount_not_chargeable"));
        assert_eq!(stripe(99, "MGA"), Err("amount_not_chargeable"));
    }

    #[test]
    fn kwd_needs_a_zero_last_digit() {
        assert_eq!(stripe(12_340, "KWD"), Ok(12_340));
        assert_eq!(stripe(12_345, "KWD"), Err("amount_not_chargeable"));
        for code in THREE_DECIMAL {
            assert_eq!(stripe(5_121, code), Err("amount_not_chargeable"), "{code}");
            assert_eq!(stripe(5_120, code), Ok(5_120), "{code}");
        }
    }

    #[test]
    fn exponent_four_currencies_are_not_supported() {
        assert_eq!(stripe(10_000, "CLF"), Err("currency_not_supported"));
        assert_eq!(stripe(10_000, "UYW"), Err("currency_not_supported"));
        assert_eq!(stripe(10_000, "IQD"), Err("currency_not_supported"));
    }

    #[test]
    fn zero_and_negative_amounts_are_refused() {
        assert_eq!(stripe(0, "GBP"), Err("amount_not_chargeable"));
        assert_eq!(stripe(-100, "GBP"), Err("amount_not_chargeable"));
    }

    #[test]
    fn every_zero_decimal_currency_is_whole_units() {
        for code in ZERO_DECIMAL {
            let currency = Currency::parse(code).unwrap();
            let one_unit = 10_i64.pow(currency.exponent());
            assert_eq!(stripe(3 * one_unit, code), Ok(3), "{code}");
        }
    }

    #[test]
    fn comparisons_use_stripe_units() {
        let isk = money(45_000, "ISK");
        assert!(is_same_amount(isk, 4_500_000, "isk"));
        assert!(
            !is_same_amount(isk, 45_000, "isk"),
            "ISO units are not Stripe units"
        );
        let mga = money(150_000, "MGA");
        assert!(is_same_amount(mga, 1500, "mga"));
        assert!(!is_same_amount(mga, 150_000, "mga"));
        assert!(!is_same_amount(money(100, "GBP"), 100, "eur"));
        assert!(!is_same_amount(money(10_000, "CLF"), 10_000, "clf"));
    }
}
