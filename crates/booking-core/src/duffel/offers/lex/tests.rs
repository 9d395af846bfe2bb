use proptest::prelude::*;
use serde::de::IgnoredAny;

use super::*;

/// The cursor's verdict on a whole document.
fn accepts(text: &str) -> bool {
    let mut c = Cursor::new(text);
    c.skip().and_then(|()| c.finish()).is_ok()
}

fn serde_accepts(text: &str) -> bool {
    serde_json::from_str::<IgnoredAny>(text).is_ok()
}

#[test]
fn agrees_with_serde_json_on_samples() {
    let samples = [
        "",
        " ",
        "0",
        "-0",
        "01",
        "-",
        "1.",
        "1.5",
        ".5",
        "1e",
        "1e+",
        "1e+5",
        "1E-05",
        "-1.0e3",
        "true",
        "tru",
        "false",
        "null",
        "nul",
        "nulll",
        r#""""#,
        r#"""#,
        r#""\""#,
        r#""\"""#,
        r#""\u00e9""#,
        r#""\u00g9""#,
        r#""\ud800""#,
        r#""\x""#,
        "\"a\u{1}\"",
        "\"\u{7f}é\"",
        "[]",
        "[",
        "[1,]",
        "[,1]",
        "[1 2]",
        "[1,[2,[3]]]",
        "{}",
        "{",
        r#"{"a"}"#,
        r#"{"a":}"#,
        r#"{"a":1,}"#,
        r#"{"a":1 "b":2}"#,
        r#"{1:2}"#,
        r#"{"a":[{"b":{}}],"c":"d"}"#,
        " [ 1 , { \"a\" : null } ] ",
        "[1]]",
        "{}}",
        "[}",
        "{]",
        "1 2",
        "\"abcdefghijklmnop\"",
        "\"abcdefgh\\\"ijklmnop\"",
        "\"abcdefghijklmno\u{1f}\"",
        "\"0123456789abcde",
    ];
    for text in samples {
        assert_eq!(accepts(text), serde_accepts(text), "{text:?}");
    }
}

#[test]
fn deep_nesting_matches_serde_json() {
    for n in [1, 100, 127, 128, 129, 130, 200, 1000] {
        for (open, close) in [("[", "]"), ("{\"k\":", "}")] {
            let text = format!("{}0{}", open.repeat(n), close.repeat(n));
            assert_eq!(accepts(&text), serde_accepts(&text), "{n} {open}");
        }
    }
}

#[test]
fn reads_keys_and_strings_borrowed_unless_escaped() {
    let mut c = Cursor::new(r#" {"id" : "off_1", "n\u0061me":"a\"b", "x":[1,{"y":2}]} "#);
    assert_eq!(c.peek(), Ok(b'{'));
    let key = c.object_first().unwrap().unwrap();
    assert!(matches!(key, Cow::Borrowed(b"id")));
    assert_eq!(c.peek(), Ok(b'"'));
    assert!(matches!(c.string().unwrap(), Cow::Borrowed("off_1")));
    assert_eq!(c.object_next().unwrap().as_deref(), Some(&b"name"[..]));
    c.peek().unwrap();
    assert_eq!(c.string().unwrap(), "a\"b");
    assert_eq!(c.object_next().unwrap().as_deref(), Some(&b"x"[..]));
    c.peek().unwrap();
    let start = c.index();
    c.skip().unwrap();
    assert_eq!(c.index() - start, r#"[1,{"y":2}]"#.len());
    assert_eq!(c.object_next().unwrap(), None);
    c.finish().unwrap();
}

/// JSON-like text: valid documents with odd numbers, escapes and whitespace.
fn json_text() -> impl Strategy<Value = String> {
    let ws = prop::sample::select(vec!["", " ", "\n", "\t ", "\r"]);
    let leaf = prop_oneof![
        Just("null".to_owned()),
        Just("true".to_owned()),
        Just("false".to_owned()),
        "-?(0|[1-9][0-9]{0,3})(\\.[0-9]{1,3})?([eE][+-]?[0-9]{1,2})?",
        "\"([a-zé_ ]|\\\\[nt\"\\\\/]|\\\\u[0-9a-fA-F]{4}){0,20}\"",
    ];
    leaf.prop_recursive(5, 64, 6, move |inner| {
        let ws = ws.clone();
        prop_oneof![
            (prop::collection::vec(inner.clone(), 0..6), ws.clone())
                .prop_map(|(items, w)| format!("[{w}{}{w}]", items.join(&format!("{w},")))),
            (
                prop::collection::vec(("\"[a-z\\\\\"]{0,10}\"", inner), 0..6),
                ws
            )
                .prop_map(|(members, w)| {
                    let members: Vec<String> =
                        members.iter().map(|(k, v)| format!("{k}{w}:{v}")).collect();
                    format!("{{{}{w}}}", members.join(","))
                }),
        ]
    })
}

proptest! {
    #[test]
    fn agrees_with_serde_json(
        text in json_text(),
        edits in prop::collection::vec((any::<prop::sample::Index>(), 0..14_usize), 0..3),
    ) {
        let mut text = text;
        for (at, op) in edits {
            let bounds: Vec<usize> = (0..=text.len()).filter(|&i| text.is_char_boundary(i)).collect();
            let i = *at.get(&bounds);
            let insert = ["\"", "\\", "{", "}", "[", "]", ",", ":", ".", "-", "0", "e", "\u{1}"];
            match insert.get(op) {
                Some(s) => text.insert_str(i, s),
                None => {
                    if let Some(c) = text[i..].chars().next() {
                        text.replace_range(i..i + c.len_utf8(), "");
                    }
                }
            }
        }
        prop_assert_eq!(accepts(&text), serde_accepts(&text), "{:?}", text);
    }

    #[test]
    fn agrees_with_serde_json_on_arbitrary_text(text in "[\\[\\]{}\",:0-9a-z\\\\. \u{1}-]{0,40}") {
        prop_assert_eq!(accepts(&text), serde_accepts(&text), "{:?}", text);
    }
}

/// Skips one value of `b` to its end (what the scan does with unread values).
fn skip_all(b: &[u8]) -> Lex<()> {
    let mut c = Cursor::over(b);
    c.skip()?;
    c.finish()
}

proptest! {
    #[test]
    fn strings_are_checked_as_utf8(
        parts in proptest::collection::vec(
            prop_oneof![
                "[a-z ]{0,20}".prop_map(String::into_bytes),
                any::<String>().prop_map(|s| s.replace(['"', '\\'], "").into_bytes()),
                proptest::collection::vec(any::<u8>(), 0..4)
                    .prop_map(|v| v.into_iter().filter(|&c| c >= 0x20 && c != b'"' && c != b'\\').collect()),
            ],
            0..8,
        )
    ) {
        let inner = parts.concat();
        let utf8 = std::str::from_utf8(&inner).is_ok();
        let string = [&b"\""[..], &inner, b"\""].concat();
        prop_assert_eq!(skip_all(&string).is_ok(), utf8);
        let array = [&b"[1,"[..], &string, b",{\"k\":", &string, b"}]"].concat();
        prop_assert_eq!(skip_all(&array).is_ok(), utf8);
        let key = [&b"{"[..], &string, b":null}"].concat();
        prop_assert_eq!(skip_all(&key).is_ok(), utf8);
        let mut c = Cursor::over(&string);
        c.peek().unwrap();
        prop_assert_eq!(c.string().is_ok(), utf8);
    }
}

#[test]
fn invalid_utf8_is_refused_at_every_offset_and_outside_strings() {
    for at in 0..40 {
        for bad in [
            &[0xff][..],
            &[0xc3],
            &[0xe2, 0x82],
            &[0xed, 0xa0, 0x80],
            &[0x80],
        ] {
            let mut b = vec![b'a'; 40];
            b.splice(at..at, bad.iter().copied());
            let string = [&b"[\""[..], &b, b"\"]"].concat();
            assert_eq!(
                skip_all(&string),
                Err(JsonError {
                    what: "invalid UTF-8",
                    at: 2 + at
                }),
                "{at} {bad:?}"
            );
        }
        let mut b = vec![b'a'; 40];
        b.splice(at..at, "é€😀".bytes());
        assert_eq!(skip_all(&[&b"\""[..], &b, b"\""].concat()), Ok(()));
    }
    assert!(skip_all(b"[1,\xff]").is_err());
    assert!(skip_all(b"{\"a\":1}\xc3\xa9").is_err());
}
