//! Printing records: plain values, or one JSON object per line.

use std::io::{self, Write};

use consumer_net::{ConsumerRecord, TimestampType};

use crate::args::Format;

/// Writes `record` to `out` in `format` (nothing for [`Format::None`]).
pub fn write_record(
    out: &mut impl Write,
    record: &ConsumerRecord,
    format: Format,
) -> io::Result<()> {
    match format {
        Format::None => Ok(()),
        Format::Text => {
            // Like the Java console consumer, a null value prints as `null`.
            match &record.value {
                Some(v) => out.write_all(String::from_utf8_lossy(v).as_bytes())?,
                None => out.write_all(b"null")?,
            }
            out.write_all(b"\n")
        }
        Format::Json => write_json(out, record),
    }
}

fn write_json(out: &mut impl Write, r: &ConsumerRecord) -> io::Result<()> {
    out.write_all(b"{\"topic\":")?;
    write_json_str(out, &r.topic)?;
    write!(
        out,
        ",\"partition\":{},\"offset\":{},\"timestamp\":{},\"timestamp_type\":\"{}\",\"key\":",
        r.partition,
        r.offset,
        r.timestamp,
        timestamp_type(r.timestamp_type)
    )?;
    write_json_bytes(out, r.key.as_deref())?;
    out.write_all(b",\"value\":")?;
    write_json_bytes(out, r.value.as_deref())?;
    // An array, not an object: header keys may repeat and their order matters.
    out.write_all(b",\"headers\":[")?;
    for (i, h) in r.headers.iter().enumerate() {
        if i > 0 {
            out.write_all(b",")?;
        }
        out.write_all(b"{\"key\":")?;
        write_json_str(out, &h.key)?;
        out.write_all(b",\"value\":")?;
        write_json_bytes(out, h.value.as_deref())?;
        out.write_all(b"}")?;
    }
    out.write_all(b"]}\n")
}

fn timestamp_type(t: TimestampType) -> &'static str {
    match t {
        TimestampType::CreateTime => "CreateTime",
        TimestampType::LogAppendTime => "LogAppendTime",
        TimestampType::NoTimestamp => "NoTimestampType",
    }
}

/// Bytes as a JSON string of their UTF-8 text (invalid sequences become U+FFFD), or
/// `null` when absent.
fn write_json_bytes(out: &mut impl Write, bytes: Option<&[u8]>) -> io::Result<()> {
    match bytes {
        Some(b) => write_json_str(out, &String::from_utf8_lossy(b)),
        None => out.write_all(b"null"),
    }
}

/// `s` as a quoted JSON string (RFC 8259: `"`, `\` and control characters escaped).
pub fn write_json_str(out: &mut impl Write, s: &str) -> io::Result<()> {
    out.write_all(b"\"")?;
    let bytes = s.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let escape: &[u8] = match b {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0x00..=0x1f => b"",
            _ => continue,
        };
        // Only ASCII bytes are escaped, so `start..i` always ends on a char boundary.
        out.write_all(&bytes[start..i])?;
        if escape.is_empty() {
            write!(out, "\\u{b:04x}")?;
        } else {
            out.write_all(escape)?;
        }
        start = i + 1;
    }
    out.write_all(&bytes[start..])?;
    out.write_all(b"\"")
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use consumer_net::Header;
    use proptest::prelude::*;

    use super::*;

    fn json_str(s: &str) -> String {
        let mut out = Vec::new();
        write_json_str(&mut out, s).unwrap();
        String::from_utf8(out).unwrap()
    }

    /// A JSON string decoder written from RFC 8259, to check the escaper against.
    fn unescape(json: &str) -> Option<String> {
        let inner = json.strip_prefix('"')?.strip_suffix('"')?;
        let mut out = String::new();
        let mut chars = inner.chars();
        while let Some(c) = chars.next() {
            match c {
                '"' => return None,
                c if (c as u32) < 0x20 => return None,
                '\\' => match chars.next()? {
                    '"' => out.push('"'),
                    '\\' => out.push('\\'),
                    '/' => out.push('/'),
                    'n' => out.push('\n'),
                    'r' => out.push('\r'),
                    't' => out.push('\t'),
                    'b' => out.push('\u{8}'),
                    'f' => out.push('\u{c}'),
                    'u' => {
                        let hex: String = chars.by_ref().take(4).collect();
                        let code = u32::from_str_radix(&hex, 16).ok()?;
                        out.push(char::from_u32(code)?);
                    }
                    _ => return None,
                },
                c => out.push(c),
            }
        }
        Some(out)
    }

    #[test]
    fn escapes_quotes_backslashes_and_controls() {
        assert_eq!(json_str(""), r#""""#);
        assert_eq!(json_str("plain"), r#""plain""#);
        assert_eq!(json_str("a\"b\\c"), r#""a\"b\\c""#);
        assert_eq!(json_str("l1\nl2\r\t"), r#""l1\nl2\r\t""#);
        assert_eq!(json_str("\u{0}\u{1f}\u{7f}"), "\"\\u0000\\u001f\u{7f}\"");
        assert_eq!(json_str("é€😀"), "\"é€😀\"");
    }

    proptest! {
        #[test]
        fn escaped_strings_decode_to_the_original(s in any::<String>()) {
            prop_assert_eq!(unescape(&json_str(&s)), Some(s));
        }
    }

    fn record(key: Option<&[u8]>, value: Option<&[u8]>, headers: Vec<Header>) -> ConsumerRecord {
        let mut r = ConsumerRecord::new("t\"x", 2, 41);
        r.timestamp = 1_700_000_000_000;
        r.key = key.map(Bytes::copy_from_slice);
        r.value = value.map(Bytes::copy_from_slice);
        r.headers = headers;
        r
    }

    fn render(r: &ConsumerRecord, f: Format) -> String {
        let mut out = Vec::new();
        write_record(&mut out, r, f).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn json_record_with_nulls_and_headers() {
        let headers = vec![
            Header {
                key: "h".into(),
                value: Some(Bytes::from_static(b"1\n")),
            },
            Header {
                key: "h".into(),
                value: None,
            },
        ];
        let r = record(Some(b"k\xff"), None, headers);
        assert_eq!(
            render(&r, Format::Json),
            "{\"topic\":\"t\\\"x\",\"partition\":2,\"offset\":41,\"timestamp\":1700000000000,\
             \"timestamp_type\":\"CreateTime\",\"key\":\"k\u{fffd}\",\"value\":null,\
             \"headers\":[{\"key\":\"h\",\"value\":\"1\\n\"},{\"key\":\"h\",\"value\":null}]}\n"
        );
    }

    #[test]
    fn text_and_none() {
        let r = record(None, Some(b"hello \xc3"), vec![]);
        assert_eq!(render(&r, Format::Text), "hello \u{fffd}\n");
        assert_eq!(render(&record(None, None, vec![]), Format::Text), "null\n");
        assert_eq!(render(&r, Format::None), "");
    }
}
