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

proptest! {
    #[test]
    fn is_utf8_agrees_with_std(
        parts in proptest::collection::vec(
            prop_oneof![
                "[a-z\"{}]{0,40}".prop_map(String::into_bytes),
                any::<String>().prop_map(String::into_bytes),
                proptest::collection::vec(any::<u8>(), 0..6),
            ],
            0..8,
        )
    ) {
        let bytes = parts.concat();
        prop_assert_eq!(is_utf8(&bytes), std::str::from_utf8(&bytes).is_ok());
    }
}

#[test]
fn is_utf8_at_every_offset() {
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
            assert!(!is_utf8(&b), "{at} {bad:?}");
        }
        let mut b = vec![b'a'; 40];
        b.splice(at..at, "é€😀".bytes());
        assert!(is_utf8(&b));
    }
}
