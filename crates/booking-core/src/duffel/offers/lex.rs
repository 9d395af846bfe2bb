//! A small strict JSON cursor for the search hot path: skips values without building them
//! (strings eight bytes at a time, one loop on a local index with the open containers' kinds
//! in a bitset, so no recursion), reads
//! object keys and string values as slices of the body (decoded only when they have escapes),
//! and rejects anything that is not RFC 8259 JSON, with the position.
//!
//! It accepts exactly what `serde_json` accepts when it ignores a value (tested against it,
//! `lex/tests.rs`; like serde's `IgnoredAny`, no nesting limit, and no recursion either), and
//! the text must be UTF-8: strings are checked as they are scanned (each run of non-ASCII bytes
//! through `from_utf8`), and outside strings the grammar admits ASCII only, so a text the cursor
//! has read to its end is UTF-8 throughout (what `std::str::from_utf8` would decide). Strings read
//! are converted with `from_utf8` again, which cannot fail then.

use std::borrow::Cow;

/// Broken JSON: what was expected, and the byte offset.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct JsonError {
    pub(super) what: &'static str,
    pub(super) at: usize,
}

impl std::fmt::Display for JsonError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} at byte {}", self.what, self.at)
    }
}

pub(super) type Lex<T> = Result<T, JsonError>;

/// An object key: its bytes between the quotes (decoded when it has escapes, which Duffel's
/// keys never have), compared as bytes, never checked as UTF-8 again.
pub(super) type Key<'a> = Cow<'a, [u8]>;

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGH: u64 = 0x8080_8080_8080_8080;

/// High bit set in each byte of `w` that is `"`, `\`, a control character (below 0x20) or not
/// ASCII. Bits above (later than) a true hit may be spurious; the lowest set bit is always a true
/// hit.
#[inline]
fn special(w: u64) -> u64 {
    let zero = |v: u64| v.wrapping_sub(ONES) & !v & HIGH;
    zero(w ^ (ONES * u64::from(b'"')))
        | zero(w ^ (ONES * u64::from(b'\\')))
        | (w.wrapping_sub(ONES * 0x20) & !w & HIGH)
        | (w & HIGH)
}

/// A position in a UTF-8 JSON text.
pub(super) struct Cursor<'a> {
    b: &'a [u8],
    i: usize,
}

impl<'a> Cursor<'a> {
    /// A cursor at the start of `text`.
    #[cfg(test)]
    pub(super) fn new(text: &'a str) -> Self {
        Self::over(text.as_bytes())
    }

    /// A cursor at the start of `b` (any bytes: a string that is not UTF-8 is an error).
    pub(super) fn over(b: &'a [u8]) -> Self {
        Self { b, i: 0 }
    }

    /// The current byte offset (the start of the next value once [`Self::peek`] has run).
    pub(super) fn index(&self) -> usize {
        self.i
    }

    fn err<T>(&self, what: &'static str) -> Lex<T> {
        Err(JsonError { what, at: self.i })
    }

    #[inline]
    fn ws(&mut self) {
        while let Some(b' ' | b'\n' | b'\r' | b'\t') = self.b.get(self.i) {
            self.i += 1;
        }
    }

    /// The first byte of the next value (whitespace skipped); end of input is an error.
    #[inline]
    pub(super) fn peek(&mut self) -> Lex<u8> {
        self.ws();
        match self.b.get(self.i) {
            Some(&c) => Ok(c),
            None => self.err("EOF while parsing a value"),
        }
    }

    /// Only whitespace remains.
    pub(super) fn finish(&mut self) -> Lex<()> {
        self.ws();
        if self.i == self.b.len() {
            Ok(())
        } else {
            self.err("trailing characters")
        }
    }

    #[inline]
    fn eat(&mut self, c: u8, what: &'static str) -> Lex<()> {
        self.ws();
        if self.b.get(self.i) == Some(&c) {
            self.i += 1;
            Ok(())
        } else {
            self.err(what)
        }
    }

    /// At `{`: consumes it and the first key and its `:`, or the empty object's `}`.
    pub(super) fn object_first(&mut self) -> Lex<Option<Key<'a>>> {
        self.eat(b'{', "expected `{`")?;
        self.ws();
        if self.b.get(self.i) == Some(&b'}') {
            self.i += 1;
            return Ok(None);
        }
        self.key().map(Some)
    }

    /// After a member's value: the next key (and its `:`), or `None` at the object's `}`.
    pub(super) fn object_next(&mut self) -> Lex<Option<Key<'a>>> {
        self.ws();
        match self.b.get(self.i) {
            Some(b',') => {
                self.i += 1;
                self.key().map(Some)
            }
            Some(b'}') => {
                self.i += 1;
                Ok(None)
            }
            _ => self.err("expected `,` or `}`"),
        }
    }

    #[inline]
    fn key(&mut self) -> Lex<Key<'a>> {
        self.ws();
        if self.b.get(self.i) != Some(&b'"') {
            return self.err("expected a key");
        }
        let start = self.i;
        self.i += 1;
        let key = if self.string_rest()? {
            Cow::Owned(self.decode(start)?.into_bytes())
        } else {
            Cow::Borrowed(self.b.get(start + 1..self.i - 1).unwrap_or_default())
        };
        if self.b.get(self.i) == Some(&b':') {
            self.i += 1;
        } else {
            self.eat(b':', "expected `:`")?;
        }
        Ok(key)
    }

    /// At `[`: consumes it; the first element's first byte, or `None` for `[]`.
    pub(super) fn array_first(&mut self) -> Lex<Option<u8>> {
        self.eat(b'[', "expected `[`")?;
        self.ws();
        if self.b.get(self.i) == Some(&b']') {
            self.i += 1;
            return Ok(None);
        }
        self.peek().map(Some)
    }

    /// After an element: the next one's first byte, or `None` at the array's `]`.
    pub(super) fn array_next(&mut self) -> Lex<Option<u8>> {
        self.ws();
        match self.b.get(self.i) {
            Some(b',') => {
                self.i += 1;
                self.peek().map(Some)
            }
            Some(b']') => {
                self.i += 1;
                Ok(None)
            }
            _ => self.err("expected `,` or `]`"),
        }
    }

    /// At `null`: consumes it.
    pub(super) fn null(&mut self) -> Lex<()> {
        self.literal(b"null")
    }

    fn literal(&mut self, word: &'static [u8]) -> Lex<()> {
        if self.b.get(self.i..self.i + word.len()) == Some(word) {
            self.i += word.len();
            Ok(())
        } else {
            self.err("expected a value")
        }
    }

    /// At `"`: the string's value, borrowed from the text unless it has escapes.
    pub(super) fn string(&mut self) -> Lex<Cow<'a, str>> {
        let start = self.i;
        self.i += 1;
        let escaped = self.string_rest()?;
        let Some(Ok(inner)) = self.b.get(start + 1..self.i - 1).map(std::str::from_utf8) else {
            return self.err("invalid UTF-8");
        };
        if !escaped {
            return Ok(Cow::Borrowed(inner));
        }
        self.decode(start).map(Cow::Owned)
    }

    /// The value of the string with escapes from `start` (its `"`) to the cursor. Rare (Duffel
    /// sends none in the fields read): serde_json decodes, lone surrogates refused.
    #[cold]
    fn decode(&self, start: usize) -> Lex<String> {
        match self
            .b
            .get(start..self.i)
            .map(serde_json::from_slice::<String>)
        {
            Some(Ok(s)) => Ok(s),
            _ => Err(JsonError {
                what: "invalid escape",
                at: start,
            }),
        }
    }

    /// After the opening `"`: up to and past the closing one; whether there were escapes.
    #[inline]
    fn string_rest(&mut self) -> Lex<bool> {
        match string_end(self.b, self.i) {
            Ok((i, escaped)) => {
                self.i = i;
                Ok(escaped)
            }
            Err(e) => {
                self.i = e.at;
                Err(e)
            }
        }
    }

    /// Skips one value, checking it is JSON, without building anything.
    #[inline]
    pub(super) fn skip(&mut self) -> Lex<()> {
        // Most skipped members are strings or `null`: no call into the general loop.
        match self.b.get(self.i) {
            Some(b'"') => {
                self.i += 1;
                return self.string_rest().map(|_| ());
            }
            Some(b'n') => return self.null(),
            _ => {}
        }
        match skip_value(self.b, self.i) {
            Ok(i) => {
                self.i = i;
                Ok(())
            }
            Err(e) => {
                self.i = e.at;
                Err(e)
            }
        }
    }
}

/// JSON whitespace.
const WS: [bool; 256] = {
    let mut t = [false; 256];
    t[b' ' as usize] = true;
    t[b'\n' as usize] = true;
    t[b'\r' as usize] = true;
    t[b'\t' as usize] = true;
    t
};

fn fail<T>(what: &'static str, at: usize) -> Lex<T> {
    Err(JsonError { what, at })
}

/// The first non-whitespace index from `i`.
#[inline(always)]
fn ws_from(b: &[u8], mut i: usize) -> usize {
    while let Some(&c) = b.get(i) {
        if !WS[usize::from(c)] {
            break;
        }
        i += 1;
    }
    i
}

/// The index of the first `"`, backslash, control character or non-ASCII byte at or after `i`,
/// sixteen bytes at a time with wasm SIMD (the search module is built with `simd128`,
/// scripts/build-wasm.sh), then eight at a time; `b.len()` or a smaller index past the last full
/// word when none is found.
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
#[inline(always)]
fn special_from(b: &[u8], mut i: usize) -> usize {
    use core::arch::wasm32::{u8x16, u8x16_bitmask, u8x16_eq, u8x16_lt, u8x16_splat, v128_or};
    while let Some(c) = b.get(i..i + 16) {
        let v = u8x16(
            c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7], c[8], c[9], c[10], c[11], c[12], c[13],
            c[14], c[15],
        );
        let hits = v128_or(
            v128_or(
                u8x16_eq(v, u8x16_splat(b'"')),
                u8x16_eq(v, u8x16_splat(b'\\')),
            ),
            u8x16_lt(v, u8x16_splat(0x20)),
        );
        let bits = u8x16_bitmask(hits) | u8x16_bitmask(v);
        if bits != 0 {
            return i + bits.trailing_zeros() as usize;
        }
        i += 16;
    }
    special_from_swar(b, i)
}

/// [`special_from`] without SIMD: eight bytes at a time.
#[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
#[inline(always)]
fn special_from(b: &[u8], i: usize) -> usize {
    special_from_swar(b, i)
}

#[inline(always)]
fn special_from_swar(b: &[u8], mut i: usize) -> usize {
    while let Some(chunk) = b.get(i..i + 8) {
        let mut word = [0; 8];
        word.copy_from_slice(chunk);
        let hits = special(u64::from_le_bytes(word));
        if hits != 0 {
            return i + (hits.trailing_zeros() / 8) as usize;
        }
        i += 8;
    }
    i
}

/// After a string's opening `"` at `i - 1`: the index past its closing `"`, and whether it had
/// escapes; many bytes at a time ([`special_from`]; in wasm a byte loop with a table was
/// slower, measured).
#[inline(always)]
fn string_end(b: &[u8], mut i: usize) -> Lex<(usize, bool)> {
    let mut escaped = false;
    loop {
        i = special_from(b, i);
        match b.get(i) {
            Some(b'"') => return Ok((i + 1, escaped)),
            Some(b'\\') => {
                escaped = true;
                i = escape_end(b, i + 1)?;
            }
            Some(0..=0x1f) => return fail("control character in a string", i),
            Some(0x80..) => i = utf8_run_end(b, i)?,
            Some(_) => i += 1,
            None => return fail("EOF while parsing a string", i),
        }
    }
}

/// At a non-ASCII byte in a string: the index past its run of non-ASCII bytes, which must be
/// whole UTF-8 characters (an ASCII byte never continues one, so the run can be checked alone).
#[cold]
fn utf8_run_end(b: &[u8], i: usize) -> Lex<usize> {
    let rest = b.get(i..).unwrap_or_default();
    let end = rest.iter().position(|&c| c < 0x80).unwrap_or(rest.len());
    match std::str::from_utf8(&rest[..end]) {
        Ok(_) => Ok(i + end),
        Err(_) => fail("invalid UTF-8", i),
    }
}

/// After a `\` at `i - 1`: the index past the escape.
fn escape_end(b: &[u8], i: usize) -> Lex<usize> {
    match b.get(i) {
        Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => Ok(i + 1),
        Some(b'u') => match b.get(i + 1..i + 5) {
            Some(hex) if hex.iter().all(u8::is_ascii_hexdigit) => Ok(i + 5),
            _ => fail("invalid \\u escape", i),
        },
        _ => fail("invalid escape", i),
    }
}

/// At a number's first byte: the index past it.
#[inline(always)]
fn number_end(b: &[u8], mut i: usize) -> Lex<usize> {
    let digits = |b: &[u8], mut i: usize| {
        while let Some(b'0'..=b'9') = b.get(i) {
            i += 1;
        }
        i
    };
    if b.get(i) == Some(&b'-') {
        i += 1;
    }
    match b.get(i) {
        Some(b'0') => {
            i += 1;
            if let Some(b'0'..=b'9') = b.get(i) {
                return fail("invalid number", i);
            }
        }
        Some(b'1'..=b'9') => i = digits(b, i + 1),
        _ => return fail("invalid number", i),
    }
    if b.get(i) == Some(&b'.') {
        let end = digits(b, i + 1);
        if end == i + 1 {
            return fail("invalid number", end);
        }
        i = end;
    }
    if let Some(b'e' | b'E') = b.get(i) {
        i += 1;
        if let Some(b'+' | b'-') = b.get(i) {
            i += 1;
        }
        let end = digits(b, i);
        if end == i {
            return fail("invalid number", end);
        }
        i = end;
    }
    Ok(i)
}

/// At a member's key (whitespace allowed before it): the index past its `:`.
#[inline(always)]
fn key_end(b: &[u8], i: usize) -> Lex<usize> {
    let i = ws_from(b, i);
    if b.get(i) != Some(&b'"') {
        return fail("expected a key", i);
    }
    let (i, _) = string_end(b, i + 1)?;
    let i = ws_from(b, i);
    if b.get(i) != Some(&b':') {
        return fail("expected `:`", i);
    }
    Ok(i + 1)
}

/// Skips the value at `i` (whitespace allowed before it), checking it is JSON: the index past
/// it. One loop on a local index; containers are counted, not recursed into.
fn skip_value(b: &[u8], mut i: usize) -> Lex<usize> {
    // Whether each open container is an object, innermost in bit 0 of `kinds` (so the test per
    // element is one `& 1`); beyond 64 levels (never in an answer, but valid JSON) the outer
    // ones spill to `deep`.
    let mut kinds: u64 = 0;
    let mut deep: Vec<bool> = Vec::new();
    let mut depth: usize = 0;
    loop {
        // A value.
        let Some(&(mut c)) = b.get(i) else {
            return fail("EOF while parsing a value", i);
        };
        if WS[usize::from(c)] {
            i = ws_from(b, i);
            c = match b.get(i) {
                Some(&c) => c,
                None => return fail("EOF while parsing a value", i),
            };
        }
        let opened = match c {
            b'"' => {
                i = string_end(b, i + 1)?.0;
                None
            }
            b'{' => {
                i = ws_from(b, i + 1);
                if b.get(i) == Some(&b'}') {
                    i += 1;
                    None
                } else {
                    i = key_end(b, i)?;
                    Some(true)
                }
            }
            b'[' => {
                i = ws_from(b, i + 1);
                if b.get(i) == Some(&b']') {
                    i += 1;
                    None
                } else {
                    Some(false)
                }
            }
            b't' => {
                if b.get(i..i + 4) != Some(b"true") {
                    return fail("expected a value", i);
                }
                i += 4;
                None
            }
            b'f' => {
                if b.get(i..i + 5) != Some(b"false") {
                    return fail("expected a value", i);
                }
                i += 5;
                None
            }
            b'n' => {
                if b.get(i..i + 4) != Some(b"null") {
                    return fail("expected a value", i);
                }
                i += 4;
                None
            }
            b'-' | b'0'..=b'9' => {
                i = number_end(b, i)?;
                None
            }
            _ => return fail("expected a value", i),
        };
        if let Some(object) = opened {
            if depth >= 64 {
                deep.push(kinds >> 63 == 1);
            }
            kinds = kinds << 1 | u64::from(object);
            depth += 1;
            continue;
        }
        // After a value: close what ends here, move to the next element or member.
        loop {
            if depth == 0 {
                return Ok(i);
            }
            let in_object = kinds & 1 == 1;
            let mut c = b.get(i).copied();
            if let Some(w) = c {
                if WS[usize::from(w)] {
                    i = ws_from(b, i);
                    c = b.get(i).copied();
                }
            }
            match (c, in_object) {
                (Some(b','), true) => {
                    i = key_end(b, i + 1)?;
                    break;
                }
                (Some(b','), false) => {
                    i += 1;
                    break;
                }
                (Some(b'}'), true) | (Some(b']'), false) => {
                    i += 1;
                    kinds >>= 1;
                    if depth > 64 {
                        kinds |= u64::from(deep.pop().unwrap_or(false)) << 63;
                    }
                    depth -= 1;
                }
                (_, true) => return fail("expected `,` or `}`", i),
                (_, false) => return fail("expected `,` or `]`", i),
            }
        }
    }
}

#[cfg(test)]
mod tests;
