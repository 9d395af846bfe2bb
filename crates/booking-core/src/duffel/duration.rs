//! ISO 8601 durations as Duffel sends them (`PT8H10M`, `PT02H26M`, `P1DT2H`).

/// Parses an ISO 8601 duration into whole minutes (seconds are truncated).
///
/// Accepts `P[nW][nD][T[nH][nM][nS]]` with designators in that order, at least one component,
/// and a `T` only when a time component follows; seconds may carry a fraction (`5.5S`). Years and
/// months are refused because their length in minutes is ambiguous. Returns `None` for anything
/// else or a total above `u32::MAX` minutes.
pub fn parse_iso_duration_minutes(text: &str) -> Option<u32> {
    let rest = text.strip_prefix('P')?;
    let (date_part, time_part) = match rest.split_once('T') {
        Some((date, time)) if !time.is_empty() => (date, Some(time)),
        Some(_) => return None,
        None => (rest, None),
    };
    let mut seconds: u64 = 0;
    let mut components = 0;
    for (part, units) in [
        (date_part, &[('W', 7 * 86_400), ('D', 86_400)][..]),
        (
            time_part.unwrap_or(""),
            &[('H', 3_600), ('M', 60), ('S', 1)][..],
        ),
    ] {
        let mut next_unit = 0;
        // The current number is `part[start..i]` (a slice, nothing allocated).
        let mut start = 0;
        for (i, ch) in part.char_indices() {
            if ch.is_ascii_digit() || (ch == '.' && units.len() == 3) {
                continue;
            }
            let index = units[next_unit..].iter().position(|(u, _)| *u == ch)? + next_unit;
            let (_, unit_seconds) = units[index];
            next_unit = index + 1;
            let value = parse_component(&part[start..i], ch == 'S')?;
            seconds = seconds.checked_add(value.checked_mul(unit_seconds)?)?;
            components += 1;
            start = i + ch.len_utf8();
        }
        if start != part.len() {
            return None;
        }
    }
    if components == 0 {
        return None;
    }
    u32::try_from(seconds / 60).ok()
}

/// Digits, or for seconds digits with an optional fraction that is dropped.
fn parse_component(number: &str, fraction_allowed: bool) -> Option<u64> {
    let whole = match number.split_once('.') {
        Some((whole, frac))
            if fraction_allowed && !frac.is_empty() && frac.bytes().all(|b| b.is_ascii_digit()) =>
        {
            whole
        }
        Some(_) => return None,
        None => number,
    };
    if whole.is_empty() || whole.len() > 12 {
        return None;
    }
    whole.parse().ok()
}

#[cfg(test)]
mod tests {
    use proptest::prelude::prop_oneof;

    use super::*;

    #[test]
    fn parses_duffel_shapes() {
        assert_eq!(parse_iso_duration_minutes("PT8H10M"), Some(490));
        assert_eq!(parse_iso_duration_minutes("PT02H26M"), Some(146));
        assert_eq!(parse_iso_duration_minutes("P1DT2H"), Some(1560));
        assert_eq!(parse_iso_duration_minutes("PT45M"), Some(45));
        assert_eq!(parse_iso_duration_minutes("PT1H30M59S"), Some(90));
        assert_eq!(parse_iso_duration_minutes("PT90.5S"), Some(1));
        assert_eq!(parse_iso_duration_minutes("P1W"), Some(10_080));
        assert_eq!(parse_iso_duration_minutes("P2D"), Some(2_880));
        assert_eq!(parse_iso_duration_minutes("PT0M"), Some(0));
    }

    #[test]
    fn refuses_everything_else() {
        for bad in [
            "",
            "P",
            "PT",
            "8H10M",
            "PT8H10",
            "PT10M8H",
            "P1M",
            "P1Y",
            "PT1.5H",
            "P1DT",
            "PTH",
            "PT8h10m",
            "PT-1H",
            "P1D2H",
            "PT1H1H",
            "PT99999999999999H",
            " PT1H",
            "PT1..5S",
        ] {
            assert_eq!(parse_iso_duration_minutes(bad), None, "{bad:?}");
        }
    }

    /// The parser as it was before it sliced instead of collecting each number into a `String`.
    fn reference(text: &str) -> Option<u32> {
        let rest = text.strip_prefix('P')?;
        let (date_part, time_part) = match rest.split_once('T') {
            Some((date, time)) if !time.is_empty() => (date, Some(time)),
            Some(_) => return None,
            None => (rest, None),
        };
        let mut seconds: u64 = 0;
        let mut components = 0;
        for (part, units) in [
            (date_part, &[('W', 7 * 86_400), ('D', 86_400)][..]),
            (
                time_part.unwrap_or(""),
                &[('H', 3_600), ('M', 60), ('S', 1)][..],
            ),
        ] {
            let mut next_unit = 0;
            let mut number = String::new();
            for ch in part.chars() {
                if ch.is_ascii_digit() || (ch == '.' && units.len() == 3) {
                    number.push(ch);
                    continue;
                }
                let index = units[next_unit..].iter().position(|(u, _)| *u == ch)? + next_unit;
                let (_, unit_seconds) = units[index];
                next_unit = index + 1;
                let value = parse_component(&number, ch == 'S')?;
                seconds = seconds.checked_add(value.checked_mul(unit_seconds)?)?;
                components += 1;
                number.clear();
            }
            if !number.is_empty() {
                return None;
            }
        }
        if components == 0 {
            return None;
        }
        u32::try_from(seconds / 60).ok()
    }

    proptest::proptest! {
        #[test]
        fn agrees_with_the_reference(text in prop_oneof![
            "P[0-9DTHMSW.]{0,12}",
            "P[0-9]{0,3}D?T?[0-9]{0,14}H?[0-9]{0,3}M?[0-9.]{0,5}S?",
            "\\PC{0,10}",
        ]) {
            proptest::prop_assert_eq!(parse_iso_duration_minutes(&text), reference(&text));
        }

        #[test]
        fn never_panics(text in "P[0-9DTHMSW.]{0,12}") {
            let _ = parse_iso_duration_minutes(&text);
        }

        #[test]
        fn hours_and_minutes_round_trip(h in 0u32..1000, m in 0u32..60) {
            let text = format!("PT{h}H{m}M");
            proptest::prop_assert_eq!(parse_iso_duration_minutes(&text), Some(h * 60 + m));
        }
    }
}
