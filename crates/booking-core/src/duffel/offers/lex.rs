//! A small strict JSON cursor for the search hot path: skips values without building them
//! (strings eight bytes at a time, containers by an explicit stack, so no recursion), reads
//! object keys and string values as slices of the body (decoded only when they have escapes),
//! and rejects anything that is not RFC 8259 JSON, with the position.
//!
//! It accepts exactly what `serde_json` accepts when it ignores a value (tested against it,
//! `lex/tests.rs`; like serde's `IgnoredAny`, no nesting limit, and no recursion either). The
//! text must be UTF-8 (the caller checks the whole body once), so slices between ASCII
//! delimiters are `str`s.

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

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGH: u64 = 0x8080_8080_8080_8080;

/// High bit set in each byte of `w` that is `"`, `\` or a control character (below 0x20). Bits
/// above (later than) a true hit may be spurious; the lowest set bit is always a true hit.
#[inline]
fn special(w: u64) -> u64 {
    let zero = |v: u64| v.wrapping_sub(ONES) & !v & HIGH;
    zero(w ^ (ONES * u64::from(b'"')))
        | zero(w ^ (ONES * u64::from(b'\\')))
        | (w.wrapping_sub(ONES * 0x20) & !w & HIGH)
}

/// A position in a UTF-8 JSON text.
pub(super) struct Cursor<'a> {
    text: &'a str,
    b: &'a [u8],
    i: usize,
}

impl<'a> Cursor<'a> {
    /// A cursor at the start of `text`.
    pub(super) fn new(text: &'a str) -> Self {
        Self {
            text,
            b: text.as_bytes(),
            i: 0,
        }
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
    pub(super) fn object_first(&mut self) -> Lex<Option<Cow<'a, str>>> {
        self.eat(b'{', "expected `{`")?;
        self.ws();
        if self.b.get(self.i) == Some(&b'}') {
            self.i += 1;
            return Ok(None);
        }
        self.key().map(Some)
    }

    /// After a member's value: the next key (and its `:`), or `None` at the object's `}`.
    pub(super) fn object_next(&mut self) -> Lex<Option<Cow<'a, str>>> {
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

    fn key(&mut self) -> Lex<Cow<'a, str>> {
        self.ws();
        if self.b.get(self.i) != Some(&b'"') {
            return self.err("expected a key");
        }
        let key = self.string()?;
        self.eat(b':', "expected `:`")?;
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
        let Some(inner) = self.text.get(start + 1..self.i - 1) else {
            return self.err("invalid UTF-8");
        };
        if !escaped {
            return Ok(Cow::Borrowed(inner));
        }
        // Rare (Duffel sends none in the fields read): serde_json decodes, lone surrogates refused.
        match self
            .text
            .get(start..self.i)
            .map(serde_json::from_str::<String>)
        {
            Some(Ok(s)) => Ok(Cow::Owned(s)),
            _ => Err(JsonError {
                what: "invalid escape",
                at: start,
            }),
        }
    }

    /// After the opening `"`: up to and past the closing one; whether there were escapes.
    #[inline]
    fn string_rest(&mut self) -> Lex<bool> {
        let b = self.b;
        let mut i = self.i;
        let mut escaped = false;
        loop {
            while let Some(chunk) = b.get(i..i + 8) {
                let mut word = [0; 8];
                word.copy_from_slice(chunk);
                let hits = special(u64::from_le_bytes(word));
                if hits != 0 {
                    i += (hits.trailing_zeros() / 8) as usize;
                    break;
                }
                i += 8;
            }
            match b.get(i) {
                Some(b'"') => {
                    self.i = i + 1;
                    return Ok(escaped);
                }
                Some(b'\\') => {
                    escaped = true;
                    i = self.escape(i + 1)?;
                }
                Some(0..=0x1f) => {
                    self.i = i;
                    return self.err("control character in a string");
                }
                Some(_) => i += 1,
                None => {
                    self.i = i;
                    return self.err("EOF while parsing a string");
                }
            }
        }
    }

    /// After a `\` at `i - 1`: the index past the escape.
    fn escape(&mut self, i: usize) -> Lex<usize> {
        match self.b.get(i) {
            Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => Ok(i + 1),
            Some(b'u') => match self.b.get(i + 1..i + 5) {
                Some(hex) if hex.iter().all(u8::is_ascii_hexdigit) => Ok(i + 5),
                _ => {
                    self.i = i;
                    self.err("invalid \\u escape")
                }
            },
            _ => {
                self.i = i;
                self.err("invalid escape")
            }
        }
    }

    fn digits(&mut self) -> usize {
        let start = self.i;
        while let Some(b'0'..=b'9') = self.b.get(self.i) {
            self.i += 1;
        }
        self.i - start
    }

    fn number(&mut self) -> Lex<()> {
        if self.b.get(self.i) == Some(&b'-') {
            self.i += 1;
        }
        match self.b.get(self.i) {
            Some(b'0') => {
                self.i += 1;
                if let Some(b'0'..=b'9') = self.b.get(self.i) {
                    return self.err("invalid number");
                }
            }
            Some(b'1'..=b'9') => {
                self.digits();
            }
            _ => return self.err("invalid number"),
        }
        if self.b.get(self.i) == Some(&b'.') {
            self.i += 1;
            if self.digits() == 0 {
                return self.err("invalid number");
            }
        }
        if let Some(b'e' | b'E') = self.b.get(self.i) {
            self.i += 1;
            if let Some(b'+' | b'-') = self.b.get(self.i) {
                self.i += 1;
            }
            if self.digits() == 0 {
                return self.err("invalid number");
            }
        }
        Ok(())
    }

    /// One scalar or an opening bracket at the current (whitespace-skipped) position; `Some`
    /// with whether it opened an object, `None` for a scalar or an empty container.
    #[inline]
    fn open_or_scalar(&mut self) -> Lex<Option<bool>> {
        match self.peek()? {
            b'"' => {
                self.i += 1;
                self.string_rest()?;
            }
            b'{' => {
                self.i += 1;
                self.ws();
                if self.b.get(self.i) == Some(&b'}') {
                    self.i += 1;
                } else {
                    self.member_key()?;
                    return Ok(Some(true));
                }
            }
            b'[' => {
                self.i += 1;
                self.ws();
                if self.b.get(self.i) == Some(&b']') {
                    self.i += 1;
                } else {
                    return Ok(Some(false));
                }
            }
            b't' => self.literal(b"true")?,
            b'f' => self.literal(b"false")?,
            b'n' => self.literal(b"null")?,
            b'-' | b'0'..=b'9' => self.number()?,
            _ => return self.err("expected a value"),
        }
        Ok(None)
    }

    /// A key being skipped and its `:`.
    #[inline]
    fn member_key(&mut self) -> Lex<()> {
        self.ws();
        if self.b.get(self.i) != Some(&b'"') {
            return self.err("expected a key");
        }
        self.i += 1;
        self.string_rest()?;
        self.eat(b':', "expected `:`")
    }

    /// Skips one value, checking it is JSON, without building anything.
    pub(super) fn skip(&mut self) -> Lex<()> {
        // Whether the container at depth d + 1 is an object: bit d of `objects`, beyond 128
        // levels (never in an answer, but valid JSON) `deep[d - 128]`.
        let mut objects: u128 = 0;
        let mut deep: Vec<bool> = Vec::new();
        let mut depth: usize = 0;
        loop {
            if let Some(object) = self.open_or_scalar()? {
                if depth < 128 {
                    objects |= u128::from(object) << depth;
                } else {
                    deep.push(object);
                }
                depth += 1;
                continue;
            }
            // After a value: close what ends here, move to the next element or member.
            loop {
                if depth == 0 {
                    return Ok(());
                }
                let in_object = if depth <= 128 {
                    objects >> (depth - 1) & 1 == 1
                } else {
                    deep.last() == Some(&true)
                };
                self.ws();
                match (self.b.get(self.i), in_object) {
                    (Some(b','), _) => {
                        self.i += 1;
                        if in_object {
                            self.member_key()?;
                        }
                        break;
                    }
                    (Some(b'}'), true) | (Some(b']'), false) => {
                        self.i += 1;
                        depth -= 1;
                        if depth < 128 {
                            objects &= !(1 << depth);
                        } else {
                            deep.pop();
                        }
                    }
                    (_, true) => return self.err("expected `,` or `}`"),
                    (_, false) => return self.err("expected `,` or `]`"),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests;
