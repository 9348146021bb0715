//! What commands print, as the official CLI prints it (`cli_util.render`): `{"data": ...}` plus
//! the display headers, `--query` (JMESPath), `--raw-output`, `--output table`.

pub mod models;
pub mod pyjson;
pub mod table;
mod unicode_tables;

use std::io::Write as _;

use serde_json::{Map, Value};

use crate::errors::CliError;
use crate::util::{Color, styled_for_stderr};

/// Response headers the CLI adds to its output as top-level keys (`DISPLAY_HEADERS`).
pub const DISPLAY_HEADERS: [&str; 5] = [
    "etag",
    "opc-next-page",
    "opc-work-request-id",
    "opc-total-items",
    "opc-next-cursor",
];

/// Printed (red) when a list stopped at a page boundary and the command has `--all`.
pub const NOT_ALL_ITEMS_WARNING: &str = "WARNING: This operation supports pagination and not all resources were returned.  Re-run using the --all option to auto paginate and list all resources.";

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputFormat {
    Json,
    Table,
}

/// The global output options.
#[derive(Debug, Clone, Default)]
pub struct OutputOptions {
    pub query: Option<String>,
    pub raw_output: bool,
    pub table: bool,
}

/// What to print: stdout text and stderr lines (in order).
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Rendered {
    pub stdout: String,
    pub stderr: Vec<String>,
}

impl Rendered {
    /// Write it out. A closed stdout (`| head`) is not an error.
    pub fn emit(&self) -> Result<(), CliError> {
        write_stdout(&self.stdout)?;
        for line in &self.stderr {
            eprintln!("{line}");
        }
        Ok(())
    }
}

/// Write to stdout; a broken pipe ends the program quietly.
pub fn write_stdout(text: &str) -> Result<(), CliError> {
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Err(CliError::Exit(0)),
        Err(e) => Err(CliError::fatal(format!("cannot write to stdout: {e}"))),
    }
}

/// Python truthiness of a response's data (`if data:`); models (objects) are always true.
fn truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(_) => true,
    }
}

/// The display headers present in `headers` (lower-cased, response order, first occurrence).
pub fn display_headers(headers: &[(String, String)]) -> Vec<(String, Value)> {
    let mut out: Vec<(String, Value)> = Vec::new();
    for (k, v) in headers {
        let k = k.to_ascii_lowercase();
        if DISPLAY_HEADERS.contains(&k.as_str()) && !out.iter().any(|(x, _)| *x == k) {
            out.push((k, Value::String(v.clone())));
        }
    }
    out
}

/// `cli_util.render(data, headers, ctx)`. `headers` are already filtered (see
/// [`display_headers`]); `paginated` says the command has an `--all` option.
pub fn render(
    data: Option<Value>,
    headers: Vec<(String, Value)>,
    opts: &OutputOptions,
    paginated: bool,
) -> Result<Rendered, CliError> {
    let mut out = Rendered::default();
    let next_page = headers
        .iter()
        .any(|(k, v)| k == "opc-next-page" && truthy(v));
    let mut display = Map::new();
    if let Some(d) = data.filter(truthy) {
        display.insert("data".into(), d);
    }
    for (k, v) in headers {
        display.insert(k, v);
    }
    if !display.is_empty() {
        let has_data = display.contains_key("data");
        let whole = Value::Object(display);
        let shown = match &opts.query {
            Some(q) => {
                let result = query(q, &whole)?;
                if result.is_null() {
                    out.stderr
                        .push("Query returned empty result, no output to show.".into());
                    return Ok(out);
                }
                Some(result)
            }
            None => None,
        };
        if opts.table {
            let table_data = match (&shown, &whole) {
                (Some(v), _) => v,
                (None, Value::Object(m)) if has_data => &m["data"],
                (None, w) => w,
            };
            out.stdout = table::print_table(table_data);
            if let Value::Object(m) = &whole
                && has_data
            {
                for (k, v) in m.iter().filter(|(k, _)| *k != "data") {
                    out.stderr.push(format!("{k}: {}", pyjson::py_str(v)));
                }
            }
        } else {
            let v = shown.as_ref().unwrap_or(&whole);
            match v {
                Value::String(s) if opts.raw_output => out.stdout = format!("{s}\n"),
                v => out.stdout = format!("{}\n", pyjson::dumps(v, pyjson::Style::CLI)),
            }
        }
    }
    if next_page && paginated {
        out.stderr
            .push(styled_for_stderr(NOT_ALL_ITEMS_WARNING, Color::Red));
    }
    Ok(out)
}

/// Evaluate a JMESPath expression (`--query`) on `value`.
pub fn query(expr: &str, value: &Value) -> Result<Value, CliError> {
    let compiled = jmespath::compile(expr)
        .map_err(|e| CliError::usage(format!("invalid --query expression: {e}")))?;
    let result = compiled
        .search(value)
        .map_err(|e| CliError::fatal(format!("--query {expr:?} failed: {e}")))?;
    serde_json::to_value(&*result)
        .map_err(|e| CliError::fatal(format!("--query {expr:?} gave an unprintable value: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn opts(query: Option<&str>, raw: bool, table: bool) -> OutputOptions {
        OutputOptions {
            query: query.map(str::to_string),
            raw_output: raw,
            table,
        }
    }

    #[test]
    fn ns_get_outputs() {
        let r = render(
            Some(json!("mynamespace")),
            vec![],
            &opts(None, false, false),
            false,
        )
        .unwrap();
        assert_eq!(r.stdout, "{\n  \"data\": \"mynamespace\"\n}\n");
        let r = render(
            Some(json!("mynamespace")),
            vec![],
            &opts(Some("data"), true, false),
            false,
        )
        .unwrap();
        assert_eq!(r.stdout, "mynamespace\n");
        let r = render(
            Some(json!("mynamespace")),
            vec![],
            &opts(Some("data"), false, false),
            false,
        )
        .unwrap();
        assert_eq!(r.stdout, "\"mynamespace\"\n");
    }

    #[test]
    fn empty_list_prints_nothing_and_headers_go_to_stderr_in_tables() {
        let r = render(Some(json!([])), vec![], &opts(None, false, false), true).unwrap();
        assert_eq!(r, Rendered::default());
        let r = render(
            Some(json!([{"a": 1}])),
            vec![("opc-next-page".into(), json!("P2"))],
            &opts(None, false, true),
            true,
        )
        .unwrap();
        assert_eq!(r.stdout, "+---+\n| a |\n+---+\n| 1 |\n+---+\n");
        assert_eq!(r.stderr[0], "opc-next-page: P2");
        assert_eq!(r.stderr[1], NOT_ALL_ITEMS_WARNING);
        let r = render(
            Some(json!("x")),
            vec![],
            &opts(Some("nothing"), false, false),
            false,
        )
        .unwrap();
        assert_eq!(r.stdout, "");
        assert_eq!(
            r.stderr,
            ["Query returned empty result, no output to show."]
        );
    }
}
