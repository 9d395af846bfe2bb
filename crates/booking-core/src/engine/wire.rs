//! A [`Command`] as the text the shim reads (`core.ts` `readCommand`): one string across the
//! wasm boundary, parsed once in JavaScript.
//!
//! Every command is its JSON (`serde_json::to_string`), except a SQL command: its header (the
//! command without `args`, plus `key` for a call the executor may batch) as JSON, a newline, then
//! the argument as the JSON text it was written as. The shim parses the short header and hands the
//! argument text to PostgreSQL as it is, so a large argument (the monitor's attempt state, a
//! recorded search) is never parsed into objects in JavaScript nor written out again. The header
//! never holds a newline (a number, a snake_case name, a fixed role, a JSON-escaped key); the
//! argument may (a raw argument keeps its text), which is why the shim splits at the first one.

use serde::Serialize;

use super::{Command, SqlArgs, SqlFunction, SqlRole};

/// `cmd` as the shim's text (see the module docs).
pub fn command_text<D: Serialize>(cmd: &Command<D>) -> String {
    match cmd {
        Command::Sql {
            id,
            function,
            role,
            args,
        } => match args {
            SqlArgs::Raw(raw) => sql_text(*id, *function, *role, None, raw.get()),
            SqlArgs::Value(value) => {
                let text = serde_json::to_string(value).unwrap_or_else(|_| "null".to_owned());
                sql_text(*id, *function, *role, None, &text)
            }
        },
        other => serde_json::to_string(other)
            .unwrap_or_else(|_| r#"{"kind":"done","result":null}"#.to_owned()),
    }
}

/// A SQL command's text from its parts: `args` must be valid JSON text (it is passed on as is);
/// `key` names the row the call locks (the monitor's trip) when the executor may batch the call
/// ([`SqlFunction::batch`]), so a batch locks its rows in one order without reading `args`.
pub fn sql_command_text(id: u32, function: SqlFunction, key: Option<&str>, args: &str) -> String {
    sql_text(id, function, function.role(), key, args)
}

fn sql_text(
    id: u32,
    function: SqlFunction,
    role: SqlRole,
    key: Option<&str>,
    args: &str,
) -> String {
    // Function names are snake_case ASCII (`names_are_unique_snake_case_and_match_serde`), so
    // they need no escaping.
    let role = match role {
        SqlRole::User => "user",
        SqlRole::Service => "service",
    };
    let name = function.name();
    let mut out = String::with_capacity(56 + name.len() + args.len());
    out.push_str(r#"{"kind":"sql","id":"#);
    out.push_str(&id.to_string());
    out.push_str(r#","function":""#);
    out.push_str(name);
    out.push_str(r#"","role":""#);
    out.push_str(role);
    out.push('"');
    if let Some(key) = key {
        out.push_str(r#","key":"#);
        out.push_str(&serde_json::to_string(key).unwrap_or_else(|_| "\"\"".to_owned()));
    }
    out.push_str("}\n");
    out.push_str(args);
    out
}

/// The command a shim's text stands for, read back as the shim reads it (a SQL command's header,
/// then its argument after the first newline; any other command as JSON). For tests.
pub fn read_command_text(text: &str) -> Option<serde_json::Value> {
    if !text.starts_with(r#"{"kind":"sql""#) {
        return serde_json::from_str(text).ok();
    }
    match text.split_once('\n') {
        None => None,
        Some((header, args)) => {
            let mut value: serde_json::Value = serde_json::from_str(header).ok()?;
            let args: serde_json::Value = serde_json::from_str(args).ok()?;
            value.as_object_mut()?.insert("args".to_owned(), args);
            Some(value)
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::http::HttpRequest;

    fn round_trip<D: Serialize>(cmd: &Command<D>) {
        let text = command_text(cmd);
        assert_eq!(
            read_command_text(&text),
            Some(serde_json::to_value(cmd).unwrap()),
            "{text}"
        );
    }

    #[test]
    fn a_sql_command_is_its_header_then_its_argument_text() {
        let args = json!({"trip_id": "t1", "note": "line\nbreak", "n": [1, 2]});
        let cmd: Command<()> = Command::sql(7, SqlFunction::MonitorExpire, args.clone());
        let text = command_text(&cmd);
        let (header, rest) = text.split_once('\n').unwrap();
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(header).unwrap(),
            json!({"kind": "sql", "id": 7, "function": "monitor_expire", "role": "service"})
        );
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(rest).unwrap(),
            args
        );
        round_trip(&cmd);
    }

    #[test]
    fn a_raw_argument_is_passed_on_as_written() {
        let raw = SqlArgs::raw(r#"{"b":1,  "a":"x\ny"}"#.to_owned()).unwrap();
        let cmd: Command<()> = Command::sql_args(1, SqlFunction::TripsList, raw);
        let text = command_text(&cmd);
        assert!(text.ends_with("\n{\"b\":1,  \"a\":\"x\\ny\"}"), "{text}");
        assert!(text.contains(r#""role":"user""#));
        round_trip(&cmd);
        assert_eq!(
            sql_command_text(1, SqlFunction::TripsList, None, r#"{"b":1,  "a":"x\ny"}"#),
            text
        );
    }

    #[test]
    fn an_argument_with_raw_newlines_stays_whole_after_the_header() {
        let pretty = "{\n  \"trip_id\": \"t\\n1\",\n  \"n\": 2\n}";
        let raw = SqlArgs::raw(pretty.to_owned()).unwrap();
        let cmd: Command<()> = Command::sql_args(9, SqlFunction::MonitorReschedule, raw);
        let text = command_text(&cmd);
        let (header, rest) = text.split_once('\n').unwrap();
        assert_eq!(
            rest, pretty,
            "split at the header's end, the argument untouched"
        );
        assert!(header.ends_with('}'));
        round_trip(&cmd);
        // A batchable call's key is in the header (JSON-escaped), never read from the argument.
        let keyed = sql_command_text(9, SqlFunction::MonitorReschedule, Some("t\"1"), pretty);
        let value = read_command_text(&keyed).unwrap();
        assert_eq!(value["key"], "t\"1");
        assert_eq!(value["args"]["n"], 2);
        assert!(!keyed.split_once('\n').unwrap().0.contains('\n'));
    }

    #[test]
    fn every_function_and_other_commands_read_back() {
        for f in SqlFunction::ALL {
            round_trip::<()>(&Command::sql(u32::MAX, *f, json!(null)));
        }
        round_trip(&Command::Done {
            result: json!({"text": "a\nb"}),
        });
        let mut request = HttpRequest::new(
            crate::http::Service::Duffel,
            crate::http::Method::Post,
            "/air/orders".to_owned(),
            1000,
        );
        request
            .headers
            .push(("Duffel-Version".to_owned(), "v2".to_owned()));
        request.body = Some("{\"a\":\"x\\ny\"}".to_owned());
        let http: Command<()> = Command::Http { id: 2, request };
        assert!(!command_text(&http).contains('\n'));
        round_trip(&http);
    }
}
