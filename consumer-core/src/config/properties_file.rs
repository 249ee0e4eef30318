//! Java `.properties` files, as `kafka-console-consumer --consumer.config` reads them.

use super::ConfigError;

/// Parses the text of a Java `.properties` file into `(key, value)` pairs, in file order.
///
/// Follows `java.util.Properties.load`: `#` and `!` start comment lines; a key ends at the
/// first unescaped `=`, `:` or whitespace; a line ending in an odd number of `\` continues
/// on the next (whose leading whitespace is dropped); `\t`, `\n`, `\r`, `\f`, `\uXXXX`
/// and `\<c>` are escapes. A bad `\u` escape is an error naming the line (not its value,
/// which may be a password).
pub fn parse_properties(text: &str) -> Result<Vec<(String, String)>, ConfigError> {
    let mut pairs = Vec::new();
    let mut lines = text.lines().enumerate();
    while let Some((index, first)) = lines.next() {
        let first = first.trim_start_matches([' ', '\t', '\u{c}']);
        if first.is_empty() || first.starts_with('#') || first.starts_with('!') {
            continue;
        }
        // Join continuation lines into one logical line.
        let mut logical = String::from(first);
        while ends_in_continuation(&logical) {
            logical.pop();
            match lines.next() {
                Some((_, next)) => logical.push_str(next.trim_start_matches([' ', '\t', '\u{c}'])),
                None => break,
            }
        }
        let bad_line = || ConfigError::InvalidValue {
            key: format!("line {} of the properties file", index + 1),
            value: "[hidden]".to_owned(),
            reason: "malformed \\uXXXX escape".to_owned(),
        };
        let (key, rest) = split_key(&logical);
        let key = unescape(key).ok_or_else(bad_line)?;
        let value = unescape(rest).ok_or_else(bad_line)?;
        pairs.push((key, value));
    }
    Ok(pairs)
}

/// Whether the line ends in an odd number of backslashes.
fn ends_in_continuation(line: &str) -> bool {
    line.bytes().rev().take_while(|&b| b == b'\\').count() % 2 == 1
}

/// Splits a logical line into its raw key and raw value.
fn split_key(line: &str) -> (&str, &str) {
    let mut escaped = false;
    for (i, c) in line.char_indices() {
        if escaped {
            escaped = false;
            continue;
        }
        match c {
            '\\' => escaped = true,
            '=' | ':' | ' ' | '\t' | '\u{c}' => {
                let key = &line[..i];
                let mut rest = line[i..].trim_start_matches([' ', '\t', '\u{c}']);
                // One separator `=` or `:` may follow whitespace.
                if c != '=' && c != ':' {
                    if let Some(r) = rest.strip_prefix(['=', ':']) {
                        rest = r;
                    }
                } else {
                    rest = &rest[1..];
                }
                return (key, rest.trim_start_matches([' ', '\t', '\u{c}']));
            }
            _ => {}
        }
    }
    (line, "")
}

fn unescape(raw: &str) -> Option<String> {
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('t') => out.push('\t'),
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            Some('f') => out.push('\u{c}'),
            Some('u') => {
                let hex: String = chars.by_ref().take(4).collect();
                let code = u32::from_str_radix(&hex, 16)
                    .ok()
                    .filter(|_| hex.len() == 4)?;
                out.push(char::from_u32(code)?);
            }
            Some(other) => out.push(other),
            None => {}
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(text: &str) -> Vec<(String, String)> {
        parse_properties(text).unwrap()
    }

    #[test]
    fn java_syntax() {
        let text = "# comment\n! also\n\n  bootstrap.servers = b1:9093,b2:9093\n\
                    security.protocol:SASL_SSL\nsasl.mechanism PLAIN\n\
                    sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule \\\n   \
                    required username=\"u\" \\\n   password=\"p\\\\w\";\n\
                    empty=\nkey\\ with\\=sep=v\\u0041\\t\n";
        assert_eq!(
            pairs(text),
            vec![
                ("bootstrap.servers".into(), "b1:9093,b2:9093".into()),
                ("security.protocol".into(), "SASL_SSL".into()),
                ("sasl.mechanism".into(), "PLAIN".into()),
                (
                    "sasl.jaas.config".into(),
                    "org.apache.kafka.common.security.plain.PlainLoginModule required \
                     username=\"u\" password=\"p\\w\";"
                        .into()
                ),
                ("empty".into(), "".into()),
                ("key with=sep".into(), "vA\t".into()),
            ]
        );
    }

    #[test]
    fn bad_escape_names_the_line_not_the_value() {
        let err = parse_properties("a=1\nsasl.password=se\\u12xcret\n").unwrap_err();
        let text = err.to_string();
        assert!(text.contains("line 2"), "{text}");
        assert!(!text.contains("cret"), "{text}");
    }

    #[test]
    fn a_file_configures_the_consumer() {
        let text = "bootstrap.servers=localhost:9093\nsecurity.protocol=ssl\n\
                    ssl.ca.location=/tmp/ca.pem\n";
        let c = crate::ConsumerConfig::from_properties(pairs(text)).unwrap();
        assert_eq!(c.security.protocol, crate::SecurityProtocol::Ssl);
    }
}
