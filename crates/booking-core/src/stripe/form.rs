//! `application/x-www-form-urlencoded` bodies in Stripe's bracket style.
//!
//! Stripe reads nested parameters from bracketed keys (`metadata[attempt_id]=…`,
//! `payment_method_types[]=card`). Keys keep their brackets literally, as Stripe's own curl
//! examples send them; everything else outside `A-Z a-z 0-9 * - . _` is percent-encoded, and a
//! space becomes `+` (the WHATWG form serializer's rules).

/// Encodes `pairs` in order as a form body.
pub fn encode(pairs: &[(&str, &str)]) -> String {
    let mut out = String::new();
    for (i, (key, value)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        push_escaped(&mut out, key, true);
        out.push('=');
        push_escaped(&mut out, value, false);
    }
    out
}

fn push_escaped(out: &mut String, text: &str, keep_brackets: bool) {
    for byte in text.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'*' | b'-' | b'.' | b'_' => {
                out.push(char::from(byte));
            }
            b'[' | b']' if keep_brackets => out.push(char::from(byte)),
            b' ' => out.push('+'),
            _ => {
                const HEX: &[u8; 16] = b"0123456789ABCDEF";
                out.push('%');
                out.push(char::from(HEX[usize::from(byte >> 4)]));
                out.push(char::from(HEX[usize::from(byte & 0x0f)]));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_brackets_in_keys_and_escapes_values() {
        let body = encode(&[
            ("metadata[attempt_id]", "att 1&x=y"),
            ("payment_method_types[]", "card"),
            ("note", "[é]"),
        ]);
        assert_eq!(
            body,
            "metadata[attempt_id]=att+1%26x%3Dy&payment_method_types[]=card&note=%5B%C3%A9%5D"
        );
    }

    #[test]
    fn empty_list_is_empty_body() {
        assert_eq!(encode(&[]), "");
    }
}
