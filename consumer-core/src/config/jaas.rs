//! Java's `sasl.jaas.config`: one login module line,
//! `<class> required key="value" key2=value2;`.

/// The login modules this client understands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum LoginModule {
    /// `org.apache.kafka.common.security.plain.PlainLoginModule`.
    Plain,
    /// `org.apache.kafka.common.security.scram.ScramLoginModule`.
    Scram,
    /// `org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule`.
    OAuthBearer,
}

/// A parsed JAAS line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct JaasConfig {
    pub(super) module: LoginModule,
    /// The options, in order.
    pub(super) options: Vec<(String, String)>,
}

impl JaasConfig {
    /// Parses one login module entry. Errors never repeat option values (they may be
    /// passwords).
    pub(super) fn parse(text: &str) -> Result<Self, String> {
        let mut rest = text.trim();
        let class = take_word(&mut rest);
        let module = match class.rsplit('.').next().unwrap_or_default() {
            "PlainLoginModule" => LoginModule::Plain,
            "ScramLoginModule" => LoginModule::Scram,
            "OAuthBearerLoginModule" => LoginModule::OAuthBearer,
            "" => return Err("no login module named".to_owned()),
            other => {
                return Err(format!(
                    "login module `{other}` is not supported (PlainLoginModule, \
                     ScramLoginModule and OAuthBearerLoginModule are)"
                ))
            }
        };
        let flag = take_word(&mut rest);
        if !matches!(flag, "required" | "requisite" | "sufficient" | "optional") {
            return Err("expected a control flag (required) after the login module".to_owned());
        }
        let mut options = Vec::new();
        loop {
            rest = rest.trim_start();
            if let Some(after) = rest.strip_prefix(';') {
                if !after.trim().is_empty() {
                    return Err("only one login module entry is supported".to_owned());
                }
                return Ok(Self { module, options });
            }
            if rest.is_empty() {
                return Err("missing `;` at the end".to_owned());
            }
            let key_end = rest
                .find(|c: char| c == '=' || c.is_whitespace() || c == ';')
                .unwrap_or(rest.len());
            let key = &rest[..key_end];
            rest = rest[key_end..].trim_start();
            let Some(after_eq) = rest.strip_prefix('=') else {
                return Err(format!("option `{key}` has no `=`"));
            };
            rest = after_eq.trim_start();
            let value = if let Some(quoted) = rest.strip_prefix('"') {
                let (value, after) = take_quoted(quoted)
                    .ok_or_else(|| format!("option `{key}`: unterminated quoted value"))?;
                rest = after;
                value
            } else {
                let end = rest
                    .find(|c: char| c.is_whitespace() || c == ';')
                    .unwrap_or(rest.len());
                let value = rest[..end].to_owned();
                rest = &rest[end..];
                value
            };
            if key.is_empty() {
                return Err("an option has no name".to_owned());
            }
            options.push((key.to_owned(), value));
        }
    }
}

fn take_word<'a>(rest: &mut &'a str) -> &'a str {
    let s = rest.trim_start();
    let end = s
        .find(|c: char| c.is_whitespace() || c == ';')
        .unwrap_or(s.len());
    *rest = &s[end..];
    &s[..end]
}

/// A quoted value after its opening quote, with `\"` and `\\` escapes; the rest after
/// the closing quote.
fn take_quoted(s: &str) -> Option<(String, &str)> {
    let mut value = String::new();
    let mut chars = s.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return Some((value, &s[i + 1..])),
            '\\' => value.push(chars.next()?.1),
            c => value.push(c),
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_and_scram_lines_parse() {
        let j = JaasConfig::parse(
            r#"org.apache.kafka.common.security.plain.PlainLoginModule required username="alice" password="p;a\"ss";"#,
        )
        .unwrap();
        assert_eq!(j.module, LoginModule::Plain);
        assert_eq!(
            j.options,
            vec![
                ("username".to_owned(), "alice".to_owned()),
                ("password".to_owned(), "p;a\"ss".to_owned())
            ]
        );
        let j = JaasConfig::parse(
            "org.apache.kafka.common.security.scram.ScramLoginModule required\n  username=bob\n  password=x ;",
        )
        .unwrap();
        assert_eq!(j.module, LoginModule::Scram);
        assert_eq!(j.options[1], ("password".to_owned(), "x".to_owned()));
    }

    #[test]
    fn bad_lines_are_refused_without_echoing_values() {
        for (line, want) in [
            ("", "no login module"),
            (
                "com.sun.security.auth.module.Krb5LoginModule required;",
                "not supported",
            ),
            ("x.PlainLoginModule username=\"a\";", "control flag"),
            (
                "x.PlainLoginModule required password=\"secret",
                "unterminated",
            ),
            (
                "x.PlainLoginModule required password=\"secret\"",
                "missing `;`",
            ),
            ("x.PlainLoginModule required password;", "has no `=`"),
        ] {
            let err = JaasConfig::parse(line).unwrap_err();
            assert!(err.contains(want), "{line}: {err}");
            assert!(!err.contains("secret"), "{err}");
        }
    }
}
